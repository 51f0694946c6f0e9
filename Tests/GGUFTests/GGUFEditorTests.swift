import BinaryIO
import Foundation
import TestSupport
import Testing

@testable import GGUF

/// `GGUFEditor` on gguf-py's `every-type.gguf` and on seeded random files: every value type set
/// from text reads back with its type, tensor bytes never change, inconsistent edits are refused.
@Suite struct GGUFEditorTests {
    static func temporaryPath(_ name: String = "out.gguf") throws -> (directory: String, path: String) {
        let directory = NSTemporaryDirectory() + "llamakit-edit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (directory, directory + "/" + name)
    }

    /// Edits a copy of `every-type.gguf` into a new file and reads it back.
    static func edited(_ edits: [GGUFEditor.Edit], force: Bool = false) throws -> GGUFFile {
        let (directory, path) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try GGUFEditor.edit(GGUFTests.path, edits, output: path, force: force, sync: false)
        return try GGUFFile(path: path)
    }

    /// Each type set on a new key from text: (type, text, value read back).
    static let newKeys: [(type: String, text: String, value: GGUFValue)] = [
        ("u8", "255", .u8(255)), ("i8", "-128", .i8(-128)), ("u16", "65535", .u16(65535)), ("i16", "-32768", .i16(-32768)),
        ("u32", "4294967295", .u32(.max)), ("i32", "-2147483648", .i32(.min)), ("u64", "18446744073709551615", .u64(.max)),
        ("i64", "-9223372036854775808", .i64(.min)), ("f32", "0.1", .f32(0.1)), ("f64", "-2.5e-300", .f64(-2.5e-300)),
        ("bool", "false", .bool(false)), ("string", "Llama 3.1 ▁ \"quoted\" [x]", .string("Llama 3.1 ▁ \"quoted\" [x]")),
        ("string", "", .string("")), ("array[u8]", "[0, 7, 255]", .array(.u8, [.u8(0), .u8(7), .u8(255)])),
        ("array[i16]", "[-32768,32767]", .array(.i16, [.i16(.min), .i16(.max)])),
        ("array[u32]", "[128001, 128008, 128009]", .array(.u32, [.u32(128_001), .u32(128_008), .u32(128_009)])),
        ("array[i32]", " [ 1 , -2 ] ", .array(.i32, [.i32(1), .i32(-2)])),
        ("array[u64]", "[18446744073709551615]", .array(.u64, [.u64(.max)])),
        ("array[i64]", "[-9223372036854775808, 0]", .array(.i64, [.i64(.min), .i64(0)])),
        ("array[f32]", "[0.1, -1e30, 3]", .array(.f32, [.f32(0.1), .f32(-1e30), .f32(3)])),
        ("array[f64]", "[0.1, 1E+300]", .array(.f64, [.f64(0.1), .f64(1e300)])),
        ("array[bool]", "[true, false]", .array(.bool, [.bool(true), .bool(false)])),
        (
            "array[string]", #"["a", "", "é\n\u00e9", "<|eot_id|>"]"#,
            .array(.string, [.string("a"), .string(""), .string("é\né"), .string("<|eot_id|>")])
        ),
        ("array[i8]", "[]", .array(.i8, [])), ("array[u16]", "[1]", .array(.u16, [.u16(1)])),
    ]

    @Test(arguments: newKeys)
    func everyTypeSetOnANewKeyReadsBack(_ row: (type: String, text: String, value: GGUFValue)) throws {
        let type = try #require(GGUFTypeSpec(name: row.type))
        let file = try Self.edited([.set(key: "new.key", text: row.text, type: type)])
        #expect(file.value("new.key") == row.value)
        #expect(file.value("new.key")?.typeSpec == type)
        #expect(file.metadata.last?.key == "new.key")
    }

    /// An existing key set without a type keeps its type (every type the fixture holds).
    static let existingKeys: [(key: String, text: String, value: GGUFValue)] = [
        ("t.u8", "7", .u8(7)), ("t.i8", "-7", .i8(-7)), ("t.u16", "7", .u16(7)), ("t.i16", "-7", .i16(-7)), ("t.u32", "7", .u32(7)),
        ("t.i32", "-7", .i32(-7)), ("t.f32", "-0.25", .f32(-0.25)), ("t.bool", "false", .bool(false)),
        ("t.string", "wörld", .string("wörld")), ("t.u64", "7", .u64(7)), ("t.i64", "-7", .i64(-7)), ("t.f64", "1e-10", .f64(1e-10)),
        ("t.strings", #"["x"]"#, .array(.string, [.string("x")])), ("t.ints", "[4, 5, 6, 7]", .array(.i32, [4, 5, 6, 7].map { .i32($0) })),
        ("t.floats", "[2]", .array(.f32, [.f32(2)])), ("t.bools", "[false]", .array(.bool, [.bool(false)])),
    ]

    @Test(arguments: existingKeys)
    func anExistingKeyKeepsItsTypeAndPlace(_ row: (key: String, text: String, value: GGUFValue)) throws {
        let original = try GGUFFile(path: GGUFTests.path)
        let file = try Self.edited([.set(key: row.key, text: row.text, type: nil)])
        #expect(file.value(row.key) == row.value)
        #expect(file.metadata.map(\.key) == original.metadata.map(\.key))
        #expect(file.metadata.filter { $0.key != row.key }.map(\.value) == original.metadata.filter { $0.key != row.key }.map(\.value))
    }

    @Test func typeGivenForAnExistingKeyChangesItsType() throws {
        let file = try Self.edited([
            .set(key: "t.u8", text: "70000", type: .scalar(.u32)), .set(key: "t.ints", text: "x", type: .scalar(.string)),
        ])
        #expect(file.value("t.u8") == .u32(70000))
        #expect(file.value("t.ints") == .string("x"))
    }

    @Test func removalsGoAndAdditionsFollowInOrder() throws {
        let original = try GGUFFile(path: GGUFTests.path)
        let file = try Self.edited([
            .set(key: "z.first", text: "1", type: .scalar(.u8)), .remove(key: "t.i16"),
            .set(key: "a.second", text: "2", type: .scalar(.u8)),
            .remove(key: "t.bools"),
        ])
        let kept = original.metadata.map(\.key).filter { $0 != "t.i16" && $0 != "t.bools" }
        #expect(file.metadata.map(\.key) == kept + ["z.first", "a.second"])
    }

    /// Per type, values that do not parse or do not fit: refused naming the key, the type and
    /// the value, and nothing written.
    static let badValues: [(type: String, text: String, expected: String)] = [
        ("u8", "256", "an integer from 0 to 255"), ("u8", "-1", "an integer from 0 to 255"), ("i8", "128", "from -128 to 127"),
        ("u16", "65536", "from 0 to 65535"), ("i16", "-32769", "from -32768 to 32767"), ("u32", "4294967296", "from 0 to 4294967295"),
        ("u32", "12abc", "from 0 to 4294967295"), ("u32", "1.0", "from 0 to 4294967295"), ("u32", "", "from 0 to 4294967295"),
        ("i32", "2147483648", "from -2147483648"), ("u64", "18446744073709551616", "from 0 to 18446744073709551615"),
        ("i64", "9223372036854775808", "from -9223372036854775808"), ("f32", "1e39", "a finite number"), ("f32", "nan", "a finite number"),
        ("f64", "1e309", "a finite number"), ("f64", "pi", "a finite number"), ("bool", "1", "true or false"),
        ("bool", "True", "true or false"), ("array[u8]", "[1, 256]", "element 1 to be an integer from 0 to 255, found 256"),
        ("array[i32]", "[1.5]", "element 0 to be an integer"),
        ("array[i32]", "[1, \"2\"]", "element 1 to be an integer from -2147483648 to 2147483647, found a string"),
        ("array[string]", "[\"a\", 1]", "element 1 to be a JSON string, found an integer"),
        ("array[bool]", "[true, 1]", "element 1 to be true or false"),
        ("array[f32]", "[1e39]", "element 0 to be a finite number"),
        ("array[u8]", "[1,", "a JSON array: the JSON text ends inside a value"),
        ("array[u8]", "5", "a JSON array, found an integer"),
        ("array[u8]", "[[1]]", "element 0 to be an integer from 0 to 255, found an array"),
        ("array[string]", "a,b", "a JSON array"),
    ]

    @Test(arguments: badValues)
    func aValueThatDoesNotParseIsRefused(_ row: (type: String, text: String, expected: String)) throws {
        let (directory, path) = try Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let type = try #require(GGUFTypeSpec(name: row.type))
        let error = #expect(throws: InputError.self) {
            _ = try GGUFEditor.edit(GGUFTests.path, [.set(key: "k.v", text: row.text, type: type)], output: path, sync: false)
        }
        #expect(error?.kind == .malformed)
        #expect(error?.location == .key("k.v"))
        let message = error?.message ?? ""
        #expect(message.hasPrefix("value '\(row.text)' does not parse as \(row.type) (expected "), "\(message)")
        #expect(message.contains(row.expected), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    static let refusedEdits: [(name: String, edit: GGUFEditor.Edit)] = [
        ("set general.alignment", .set(key: "general.alignment", text: "64", type: nil)),
        ("remove general.architecture", .remove(key: "general.architecture")),
        ("set general.architecture", .set(key: "general.architecture", text: "mistral", type: nil)),
        ("add split.count", .set(key: "split.count", text: "2", type: nil)),
        ("add llama.block_count", .set(key: "llama.block_count", text: "4", type: .scalar(.u32))),
        ("add llama.attention.head_count_kv", .set(key: "llama.attention.head_count_kv", text: "4", type: .scalar(.u32))),
        ("lengthen the tokens", .set(key: "tokenizer.ggml.tokens", text: #"["a", "b"]"#, type: .array(of: .string))),
    ]

    /// Refused without `force`, with a message that says how to override; done with it.
    @Test(arguments: refusedEdits)
    func keysTheTensorsDependOnNeedForce(_ row: (name: String, edit: GGUFEditor.Edit)) throws {
        let error = #expect(throws: InputError.self) { _ = try Self.edited([row.edit]) }
        #expect(error?.kind == .notAllowed, "\(row.name)")
        #expect(error?.location == .key(row.edit.key))
        #expect(error?.message.contains("pass --force") == true, "\(String(describing: error))")
        let file = try Self.edited([row.edit], force: true)
        if case .remove(let key) = row.edit { #expect(file.value(key) == nil) } else { #expect(file.value(row.edit.key) != nil) }
    }

    /// The same protected value set again is no change, and a vocabulary array may change its
    /// elements as long as its length stays.
    @Test func unchangedProtectedKeysAndSameLengthVocabularyPass() throws {
        let (directory, path) = try Self.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        writer.add("tokenizer.ggml.tokens", .array(.string, [.string("a"), .string("b")]))
        try writer.write(to: path, sync: false) { _, _ in }
        let outcome = try GGUFEditor.edit(
            path,
            [
                .set(key: "general.architecture", text: "llama", type: nil),
                .set(key: "tokenizer.ggml.tokens", text: #"["a", "c"]"#, type: nil),
            ],
            sync: false)
        #expect(outcome.changes.map(\.new) == [.string("llama"), .array(.string, [.string("a"), .string("c")])])
        #expect(try GGUFFile(path: path).value("tokenizer.ggml.tokens") == .array(.string, [.string("a"), .string("c")]))
    }

    /// Even with `force`, a `general.alignment` that no reader accepts is refused.
    @Test(arguments: [("48", "u32"), ("0", "u32"), ("64", "u64"), ("64", "string")])
    func anUnreadableAlignmentIsRefusedEvenWithForce(_ text: String, _ type: String) throws {
        let error = #expect(throws: InputError.self) {
            _ = try Self.edited([.set(key: "general.alignment", text: text, type: GGUFTypeSpec(name: type))], force: true)
        }
        #expect(error?.message.contains("must be a u32 power of two") == true, "\(String(describing: error))")
    }

    static let missingOrRepeated: [(edits: [GGUFEditor.Edit], message: String, kind: InputError.Kind)] = [
        ([.remove(key: "no.such.key")], "is not in the file: nothing to remove", .missing),
        ([.set(key: "no.such.key", text: "1", type: nil)], "is not in the file, so its type must be given", .missing),
        ([.set(key: "t.u8", text: "1", type: nil), .remove(key: "t.u8")], "is given more than once", .mismatch),
        ([.set(key: "", text: "1", type: .scalar(.u8))], "a metadata key cannot be empty", .malformed),
    ]

    @Test(arguments: missingOrRepeated)
    func missingKeysAndRepeatsAreRefused(_ row: (edits: [GGUFEditor.Edit], message: String, kind: InputError.Kind)) throws {
        let error = #expect(throws: InputError.self) { _ = try Self.edited(row.edits) }
        #expect(error?.kind == row.kind)
        #expect(error?.message.contains(row.message) == true, "\(String(describing: error))")
        #expect(error?.file == GGUFTests.path)
    }

    // MARK: - Tensor data

    /// A seeded GGUF: tensors of several types with random bytes, at `alignment`.
    static func randomFile(seed: UInt64, alignment: Int, at path: String) throws {
        var generator = SplitMix64(seed: seed)
        var writer = GGUFWriter(alignment: alignment)
        writer.add("general.architecture", .string("llama"))
        if alignment != 32 { writer.add("general.alignment", .u32(UInt32(alignment))) }
        let shapes: [([Int], GGMLType)] = [
            ([3, 5], .f32), ([7], .f16), ([2, 64], .q8_0), ([1, 32], .q4_0), ([256], .q6_K), ([5, 3], .bf16),
        ]
        for (index, (shape, type)) in shapes.enumerated() { try writer.addTensor(name: "t\(index)", shape: shape, type: type) }
        let data = writer.tensors.map { tensor in (0..<tensor.byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        try writer.write(to: path, sync: false) { index, sink in try data[index].withUnsafeBytes { try sink($0) } }
    }

    /// The data section (everything after the header's padding).
    static func dataSection(_ path: String) throws -> Data {
        let file = try GGUFFile(path: path)
        return try Data(contentsOf: URL(fileURLWithPath: path)).dropFirst(file.dataOffset)
    }

    /// Headers that grow by 1 to 200 bytes (so the data section moves by every remainder of the
    /// alignment): the data section is byte-identical and every tensor keeps its offset.
    @Test(arguments: [(UInt64(1), 32), (2, 64), (3, 32), (4, 256)])
    func tensorDataIsCopiedByteForByte(_ seed: UInt64, _ alignment: Int) throws {
        let (directory, path) = try Self.temporaryPath("in.gguf")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.randomFile(seed: seed, alignment: alignment, at: path)
        let original = try GGUFFile(path: path)
        let before = try Self.dataSection(path)
        for length in [1, 7, 31, 33, 200] {
            let output = directory + "/out-\(length).gguf"
            _ = try GGUFEditor.edit(
                path, [.set(key: "general.name", text: String(repeating: "x", count: length), type: .scalar(.string))], output: output,
                sync: false)
            let edited = try GGUFFile(path: output)
            #expect(edited.dataOffset % alignment == 0)
            #expect(edited.tensors == original.tensors)
            #expect(try Self.dataSection(output) == before, "seed \(seed), name of \(length) bytes")
        }
    }

    /// A forced new alignment lays the tensors out again: each tensor's bytes are unchanged.
    @Test func aForcedAlignmentMovesTheTensorsWhole() throws {
        let (directory, path) = try Self.temporaryPath("in.gguf")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.randomFile(seed: 5, alignment: 32, at: path)
        let output = directory + "/out.gguf"
        _ = try GGUFEditor.edit(path, [.set(key: "general.alignment", text: "128", type: nil)], output: output, force: true, sync: false)
        let (original, edited) = (try GGUFFile(path: path), try GGUFFile(path: output))
        #expect(edited.alignment == 128)
        #expect(edited.tensors.allSatisfy { $0.offset % 128 == 0 })
        for tensor in original.tensors {
            let bytes = try original.withBytes(of: tensor.name) { Array($0) }
            #expect(try edited.withBytes(of: tensor.name) { Array($0) } == bytes, "\(tensor.name)")
        }
    }

    /// In place through a symbolic link: the file it names is replaced, keeping its permissions,
    /// and the link stays.
    @Test func anEditInPlaceReplacesTheFileThroughALink() throws {
        let (directory, path) = try Self.temporaryPath("in.gguf")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.randomFile(seed: 6, alignment: 32, at: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let link = directory + "/link.gguf"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        let outcome = try GGUFEditor.edit(link, [.set(key: "general.name", text: "n", type: .scalar(.string))], sync: false)
        #expect(outcome.inPlace && outcome.output == link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == path)
        #expect(try GGUFFile(path: path).value("general.name") == .string("n"))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["in.gguf", "link.gguf"])
    }
}
