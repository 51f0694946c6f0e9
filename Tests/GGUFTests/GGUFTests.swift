import BinaryIO
import Foundation
import Testing

@testable import GGUF

/// Against `fixtures/gguf/every-type.gguf`, written by gguf-py 0.19 (make_gguf_fixtures.py).
@Suite struct GGUFTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/gguf")
    static let path = root.appendingPathComponent("every-type.gguf").path

    struct Described: Decodable {
        struct Tensor: Decodable {
            var name: String
            var shape: [Int]
            var type: UInt32
            var hex: String
        }
        var tensors: [Tensor]
    }

    @Test func readsEveryValueTypeAsGGUFPyWroteIt() throws {
        let file = try GGUFFile(path: Self.path)
        #expect(file.version == 3)
        #expect(file.metadata.first?.key == "general.architecture")
        #expect(file.value("general.architecture") == .string("llama"))
        #expect(file.value("t.u8") == .u8(200))
        #expect(file.value("t.i8") == .i8(-100))
        #expect(file.value("t.u16") == .u16(60000))
        #expect(file.value("t.i16") == .i16(-30000))
        #expect(file.value("t.u32") == .u32(4_000_000_000))
        #expect(file.value("t.i32") == .i32(-2_000_000_000))
        #expect(file.value("t.f32") == .f32(1.5))
        #expect(file.value("t.bool") == .bool(true))
        #expect(file.value("t.string") == .string("héllo ▁ wörld"))
        #expect(file.value("t.u64") == .u64(1 << 63 + 5))
        #expect(file.value("t.i64") == .i64(-(1 << 62)))
        #expect(file.value("t.f64") == .f64(-2.25))
        #expect(file.value("t.strings") == .array(.string, [.string("a"), .string(""), .string("Ġhello"), .string("<|eot_id|>")]))
        #expect(file.value("t.bools") == .array(.bool, [.bool(true), .bool(false)]))
    }

    @Test func tensorsMatchWhatGGUFPyWasGiven() throws {
        let file = try GGUFFile(path: Self.path)
        let described = try JSONDecoder().decode(
            Described.self, from: Data(contentsOf: Self.root.appendingPathComponent("every-type.json")))
        #expect(file.tensors.map(\.name) == described.tensors.map(\.name))
        for (tensor, expected) in zip(file.tensors, described.tensors) {
            #expect(tensor.shape == expected.shape, "\(tensor.name)")
            #expect(tensor.type.rawValue == expected.type, "\(tensor.name)")
            let hex = try file.withBytes(of: tensor.name) { $0.map { String(format2: $0) }.joined() }
            #expect(hex == expected.hex, "\(tensor.name)")
        }
    }

    /// Our writer, given what our reader parsed, reproduces gguf-py's file byte for byte.
    @Test func writerReproducesGGUFPyByteForByte() throws {
        let file = try GGUFFile(path: Self.path)
        #expect(try Self.rewritten(file) == Self.original())
    }

    /// The file `GGUFWriter` makes from everything `file`'s reader parsed: metadata, tensor
    /// infos and tensor bytes.
    static func rewritten(_ file: GGUFFile) throws -> [UInt8] {
        var writer = GGUFWriter(alignment: file.alignment)
        for (key, value) in file.metadata { writer.add(key, value) }
        for tensor in file.tensors { try writer.addTensor(name: tensor.name, shape: tensor.shape, type: tensor.type) }
        let output = NSTemporaryDirectory() + "llamakit-gguf-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: output) }
        try writer.write(to: output, sync: false) { index, sink in
            try file.withBytes(of: file.tensors[index].name) { try sink($0) }
        }
        return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
    }

    @Test func aFailedWriteLeavesTheTargetUntouched() throws {
        let directory = NSTemporaryDirectory() + "llamakit-gguf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/out.gguf"
        try Data("previous".utf8).write(to: URL(fileURLWithPath: target))
        var writer = GGUFWriter()
        try writer.addTensor(name: "w", shape: [2, 32], type: .f32)
        let error = #expect(throws: InputError.self) {
            try writer.write(to: target) { _, sink in try [UInt8](repeating: 0, count: 10).withUnsafeBytes { try sink($0) } }
        }
        #expect(error?.message.contains("10 bytes were produced, 256 expected") == true)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.gguf"])
    }

    // MARK: - Hostile input

    static func original() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func withFile(_ bytes: [UInt8], _ body: (String) throws -> Void) rethrows {
        let path = NSTemporaryDirectory() + "llamakit-gguf-\(UUID().uuidString).gguf"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    /// Little-endian bytes of an integer.
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    static func header(tensors: UInt64 = 0, kv: UInt64 = 1) -> [UInt8] { Array("GGUF".utf8) + le(UInt32(3)) + le(tensors) + le(kv) }
    static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    static let hostile: [(name: String, bytes: [UInt8], message: String, kind: InputError.Kind)] = [
        ("bad magic", Array("GGUX".utf8) + le(UInt32(3)), "not a GGUF file: bad magic", .malformed),
        ("version 1", Array("GGUF".utf8) + le(UInt32(1)) + le(UInt64(0)) + le(UInt64(0)), "GGUF version 1 is not supported", .unsupported),
        ("big-endian", Array("GGUF".utf8) + [0, 0, 0, 3] + le(UInt64(0)) + le(UInt64(0)), "looks like a big-endian file", .unsupported),
        (
            "huge kv count", Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(0)) + le(UInt64.max),
            "metadata count 18446744073709551615 exceeds the cap", .overLimit
        ),
        (
            "string past end", header() + le(UInt64(1_000_000)) + Array("abc".utf8), "metadata key declares 1000000 bytes, 3 remain",
            .truncated
        ),
        ("unknown value type", header() + string("k") + le(UInt32(13)), "key 'k': unknown value type 13", .unsupported),
        (
            "nested array", header() + string("k") + le(UInt32(9)) + le(UInt32(9)) + le(UInt64(1)), "unknown array element type 9",
            .unsupported
        ),
        (
            "array count past end", header() + string("k") + le(UInt32(9)) + le(UInt32(0)) + le(UInt64(1 << 40)),
            "declares 1099511627776 elements", .truncated
        ),
        ("bad bool", header() + string("k") + le(UInt32(7)) + [2], "bool byte is 2", .outOfRange),
        (
            "duplicate key", header(kv: 2) + string("k") + le(UInt32(0)) + [1] + string("k") + le(UInt32(0)) + [1],
            "duplicate metadata key 'k'", .mismatch
        ),
        ("empty key", header() + string("") + le(UInt32(0)) + [1], "empty metadata key", .malformed),
        (
            "bad alignment", header() + string("general.alignment") + le(UInt32(4)) + le(UInt32(48)),
            "general.alignment must be a u32 power of two", .outOfRange
        ),
        (
            "five dims", header(tensors: 1, kv: 0) + string("t") + le(UInt32(5)) + [UInt8](repeating: 0, count: 60),
            "has 5 dimensions, expected 1 to 4", .outOfRange
        ),
        (
            "unknown ggml type", header(tensors: 1, kv: 0) + string("t") + le(UInt32(1)) + le(UInt64(4)) + le(UInt32(99)) + le(UInt64(0)),
            "unknown ggml type 99", .unsupported
        ),
        (
            "partial block", header(tensors: 1, kv: 0) + string("t") + le(UInt32(1)) + le(UInt64(31)) + le(UInt32(8)) + le(UInt64(0)),
            "innermost dimension 31 is not a multiple of q8_0's block of 32", .mismatch
        ),
        (
            "offset not sequential",
            header(tensors: 1, kv: 0) + string("t") + le(UInt32(1)) + le(UInt64(4)) + le(UInt32(0)) + le(UInt64(64)),
            "has offset 64, expected 0", .mismatch
        ),
        (
            "overflowing shape",
            header(tensors: 1, kv: 0) + string("t") + le(UInt32(2)) + le(UInt64(1 << 40)) + le(UInt64(1 << 40)) + le(UInt32(0))
                + le(UInt64(0)), "element count overflows", .outOfRange
        ),
        (
            "data past end", header(tensors: 1, kv: 0) + string("t") + le(UInt32(1)) + le(UInt64(1 << 30)) + le(UInt32(0)) + le(UInt64(0)),
            "past the end of the file", .outOfRange
        ),
    ]

    @Test(arguments: hostile)
    func hostileFilesAreRefused(_ row: (name: String, bytes: [UInt8], message: String, kind: InputError.Kind)) {
        Self.withFile(row.bytes) { path in
            let error = #expect(throws: InputError.self) { _ = try GGUFFile(path: path) }
            #expect(error?.kind == row.kind, "\(String(describing: error))")
            #expect(error?.description.contains(row.message) == true, "\(row.name): \(error?.description ?? "none")")
            #expect(error?.file == path)
        }
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = try Self.original()
        for cut in 0..<bytes.count - 1 {
            Self.withFile(Array(bytes[..<cut])) { path in
                #expect(throws: InputError.self, "cut at \(cut)") { _ = try GGUFFile(path: path) }
            }
        }
    }

    /// GGUF has no checksum, so a flipped byte cannot always be noticed; what the reader owes is
    /// that every flip is either refused with `InputError` or read faithfully: writing back what
    /// it parsed gives the flipped file byte for byte. The exceptions are forced by the format:
    /// a flip inside tensor data is never refused (the values just differ), and a flip in
    /// alignment padding, which carries nothing, writes back as the original.
    @Test func everyByteFlipIsRefusedOrReadFaithfully() throws {
        let bytes = try Self.original()
        let original = try GGUFFile(path: Self.path)
        let data = original.tensors.map { original.dataOffset + $0.offset..<original.dataOffset + $0.offset + $0.byteCount }
        func isPadding(_ position: Int) -> Bool {
            guard !data.contains(where: { $0.contains(position) }), bytes[position] == 0 else { return false }
            // Before the first tensor: fewer than `alignment` bytes after the tensor infos.
            return position >= original.dataOffset || original.dataOffset - position < original.alignment
        }
        var refused = 0
        var faithful = 0
        for position in 0..<bytes.count {
            var copy = bytes
            copy[position] ^= 0xFF
            try Self.withFile(copy) { path in
                let file: GGUFFile
                do {
                    file = try GGUFFile(path: path)
                } catch is InputError {
                    #expect(!data.contains { $0.contains(position) }, "a flip in tensor data at byte \(position) was refused")
                    refused += 1
                    return
                }
                let written = try Self.rewritten(file)
                let expected = isPadding(position) ? bytes : copy
                #expect(written == expected, "the flip at byte \(position) was accepted but not read as written")
                if written == expected { faithful += 1 }
            }
        }
        #expect(refused + faithful == bytes.count)
        // Both outcomes occur: the header refuses, the data accepts.
        #expect(refused > 0 && faithful >= data.reduce(0) { $0 + $1.count })
    }
}

extension String {
    fileprivate init(format2 value: UInt8) {
        let digits = String(value, radix: 16)
        self = digits.count == 1 ? "0" + digits : digits
    }
}
