import BinaryIO
import Foundation
import Testing

@testable import GGUF

/// llama.cpp's split layout, written by `GGUFWriter` and read back by `GGUFSplitSet`.
@Suite struct GGUFSplitTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "llamakit-split-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A writer of `count` f32 tensors of varied sizes, and each tensor's bytes.
    static func model(tensors count: Int) throws -> (GGUFWriter, [[UInt8]]) {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        writer.add("general.name", .string("split-test"))
        var data: [[UInt8]] = []
        for index in 0..<count {
            let elements = 3 + 5 * index
            try writer.addTensor(name: "t\(index)", shape: [elements], type: .f32)
            data.append((0..<elements * 4).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
        }
        return (writer, data)
    }

    static func write(_ writer: GGUFWriter, _ data: [[UInt8]], to path: String, split: GGUFSplit.Limit?) throws -> [String] {
        try writer.write(to: path, split: split, sync: false) { index, sink in try data[index].withUnsafeBytes { try sink($0) } }
    }

    struct GroupRow: Sendable, CustomTestStringConvertible {
        var bytes: [Int]
        var limit: GGUFSplit.Limit
        var groups: [Range<Int>]
        var testDescription: String { "\(limit) over \(bytes)" }
    }

    /// llama-gguf-split's cut rules: by count at multiples of N; by size on the 32-byte-padded
    /// running sum (>, not ≥); an oversized tensor alone rather than an empty member.
    @Test(arguments: [
        GroupRow(bytes: [1, 1, 1, 1, 1], limit: .maxTensors(2), groups: [0..<2, 2..<4, 4..<5]),
        GroupRow(bytes: [1, 1, 1, 1], limit: .maxTensors(2), groups: [0..<2, 2..<4]),
        GroupRow(bytes: [1, 1, 1], limit: .maxTensors(128), groups: [0..<3]),
        GroupRow(bytes: [1, 1, 1], limit: .maxTensors(1), groups: [0..<1, 1..<2, 2..<3]),
        GroupRow(bytes: [32, 32, 32], limit: .maxBytes(64), groups: [0..<2, 2..<3]),
        GroupRow(bytes: [1, 1, 1], limit: .maxBytes(64), groups: [0..<2, 2..<3]),
        GroupRow(bytes: [33, 1], limit: .maxBytes(64), groups: [0..<1, 1..<2]),
        GroupRow(bytes: [100, 1, 200, 1], limit: .maxBytes(64), groups: [0..<1, 1..<2, 2..<3, 3..<4]),
        GroupRow(bytes: [], limit: .maxTensors(2), groups: [0..<0]),
    ])
    func groupsCutAsLlamaCppCuts(_ row: GroupRow) {
        #expect(GGUFSplit.groups(byteCounts: row.bytes, limit: row.limit) == row.groups)
    }

    @Test func namesAreLlamaCppsNames() {
        #expect(GGUFSplit.path(prefix: "/d/m", index: 0, count: 3) == "/d/m-00001-of-00003.gguf")
        #expect(GGUFSplit.path(prefix: "m", index: 11, count: 123_456) == "m-00012-of-123456.gguf")
        #expect(GGUFSplit.prefix(ofOutput: "/d/model.gguf") == "/d/model")
        #expect(GGUFSplit.prefix(ofOutput: "/d/model") == "/d/model")
        #expect(GGUFSplit.prefix(ofMember: "/d/m-00002-of-00003.gguf", index: 1, count: 3) == "/d/m")
        #expect(GGUFSplit.prefix(ofMember: "/d/m-00002-of-00003.gguf", index: 0, count: 3) == nil)
    }

    /// Written split, read back as one source: the same tensors in the same order, every byte
    /// as in the unsplit file, the model's metadata from the first member without split keys.
    @Test(arguments: [GGUFSplit.Limit.maxTensors(3), .maxTensors(1), .maxTensors(100), .maxBytes(200)])
    func aSplitSetReadsBackAsTheUnsplitFile(_ limit: GGUFSplit.Limit) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (writer, data) = try Self.model(tensors: 7)
        try Self.write(writer, data, to: directory + "/whole.gguf", split: nil)
        let files = try Self.write(writer, data, to: directory + "/m.gguf", split: limit)
        let whole = try GGUFSplitSet(path: directory + "/whole.gguf")
        let set = try GGUFSplitSet(path: files[0])
        #expect(set.members.map(\.path) == files)
        #expect(set.isSplit && !whole.isSplit)
        #expect(set.metadata.map(\.key) == whole.metadata.map(\.key))
        #expect(set.tensors.map(\.name) == whole.tensors.map(\.name))
        for tensor in whole.tensors {
            let expected = try whole.withBytes(of: tensor.name) { Array($0) }
            #expect(try set.withBytes(of: tensor.name) { Array($0) } == expected, "\(tensor.name)")
        }
        for (index, member) in set.members.enumerated() {
            #expect(member.value(GGUFSplit.numberKey) == .u16(UInt16(index)))
            #expect(member.value(GGUFSplit.countKey) == .u16(UInt16(files.count)))
            #expect(member.value(GGUFSplit.tensorCountKey) == .i32(7))
            #expect((index == 0) == (member.value("general.name") != nil))
            // llama-gguf-split's key order (it sets split.count last), so the bytes are its bytes.
            #expect(member.metadata.suffix(3).map(\.key) == ["split.no", "split.tensors.count", "split.count"])
        }
    }

    /// A failure while writing any member leaves no member and no temporary file.
    @Test(arguments: [0, 4, 6])
    func aFailedWriteLeavesNoMember(_ failingTensor: Int) throws {
        struct Refused: Error {}
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (writer, data) = try Self.model(tensors: 7)
        #expect(throws: Refused.self) {
            try writer.write(to: directory + "/m.gguf", split: .maxTensors(2), sync: false) { index, sink in
                if index == failingTensor { throw Refused() }
                try data[index].withUnsafeBytes { try sink($0) }
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [])
    }
}
