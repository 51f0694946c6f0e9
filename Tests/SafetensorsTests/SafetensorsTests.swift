import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import Safetensors

/// Against `fixtures/safetensors/`, written by the reference library (make_safetensors_fixtures.py).
@Suite struct SafetensorsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/safetensors")
    static let dtypesPath = root.appendingPathComponent("dtypes.safetensors").path

    struct Expected: Decodable {
        var dtype: String
        var shape: [Int]
        var hex: String
    }

    static func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: root.appendingPathComponent("dtypes.json")))
    }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func temporaryPath(_ suffix: String = ".safetensors") -> String {
        NSTemporaryDirectory() + "llamakit-st-\(UUID().uuidString)\(suffix)"
    }

    @Test func readsEveryDtypeAsTheReferenceWroteIt() throws {
        let file = try SafetensorsFile(path: Self.dtypesPath)
        let expected = try Self.expected()
        #expect(file.tensorInfos.count == expected.count)
        #expect(file.metadata("format") == "pt")
        for (name, want) in expected {
            let info = try #require(file.info(named: name), "\(name)")
            #expect(info.dtype.torchName == want.dtype, "\(name)")
            #expect(info.shape == want.shape, "\(name)")
            #expect(try file.withBytes(of: name) { Self.hex($0) } == want.hex, "\(name)")
            let range = try #require(try file.storedRange(of: name))
            let stored = try range.file.bytes(range.offset..<range.offset + range.count)
            #expect(stored.withUnsafeBytes { Self.hex($0) } == want.hex, "\(name)")
        }
    }

    @Test func writesTheSameBytesAsTheReference() throws {
        let reference = try SafetensorsFile(path: Self.dtypesPath)
        let writer = SafetensorsWriter(
            tensors: reference.tensorInfos.reversed().map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
        let path = Self.temporaryPath()
        defer { unlink(path) }
        try writer.write(to: path) { tensor, output in
            try reference.withBytes(of: tensor.name) { try output.write($0) }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: Self.dtypesPath)))
        #expect(writer.fileSize == reference.header.dataOffset + reference.tensorInfos.reduce(0) { $0 + $1.byteCount })
    }

    @Test func readsAShardedDirectoryThroughItsIndex() throws {
        let set = try SafetensorsSet(path: Self.root.appendingPathComponent("sharded").path)
        #expect(set.files.count == 2)
        #expect(set.tensorInfos.map(\.name).sorted() == ["a.weight", "b.weight", "c.weight"])
        #expect(set.info(named: "c.weight")?.location.hasPrefix("model-00002-of-00002.safetensors:") == true)
        #expect(set.info(named: "a.weight")?.shape == [4, 4])
        #expect(try set.withBytes(of: "c.weight") { $0.count } == 16)
    }

    @Test func anIndexRoundTrips() throws {
        let index = SafetensorsIndex(weightMap: [("b", "x.safetensors"), ("a", "y.safetensors")], totalSize: 42)
        #expect(try SafetensorsIndex(parsing: index.bytes()) == index)
        #expect(index.files == ["x.safetensors", "y.safetensors"])
    }

    /// A file with header `json` (padded to 8 bytes) followed by `dataSize` zero bytes.
    static func file(header json: String, dataSize: Int, declaredLength: UInt64? = nil) -> [UInt8] {
        var text = Array(json.utf8)
        text += repeatElement(UInt8(ascii: " "), count: (8 - text.count % 8) % 8)
        let length = declaredLength ?? UInt64(text.count)
        return withUnsafeBytes(of: length.littleEndian) { Array($0) } + text + [UInt8](repeating: 0, count: dataSize)
    }

    static let hostile: [(name: String, bytes: [UInt8], kind: InputError.Kind, location: InputError.Location)] = [
        ("short", [1, 0, 0], .truncated, .byteOffset(0)),
        ("length past the file", file(header: "{}", dataSize: 0, declaredLength: 1000), .truncated, .byteOffset(0)),
        ("absurd length", file(header: "{}", dataSize: 0, declaredLength: UInt64.max), .overLimit, .byteOffset(0)),
        ("not an object", file(header: "[1]", dataSize: 0), .malformed, .byteOffset(8)),
        ("bad JSON", file(header: #"{"a":}"#, dataSize: 0), .malformed, .byteOffset(13)),
        ("non-UTF-8 name", [8, 0, 0, 0, 0, 0, 0, 0] + Array(#"{""#.utf8) + [0xFF] + Array(#"":1} "#.utf8), .malformed, .byteOffset(10)),
        (
            "duplicate name",
            file(
                header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                dataSize: 2), .mismatch, .byteOffset(61)
        ),
        ("unknown dtype", file(header: #"{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#, dataSize: 1), .unsupported, .tensor("a")),
        ("size disagrees", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataSize: 4), .mismatch, .tensor("a")),
        ("past the data", file(header: #"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#, dataSize: 4), .outOfRange, .tensor("a")),
        (
            "reversed offsets", file(header: #"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, dataSize: 4), .outOfRange,
            .tensor("a")
        ),
        (
            "overlap",
            file(
                header: #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#,
                dataSize: 4), .outOfRange, .tensor("b")
        ),
        ("hole", file(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#, dataSize: 4), .outOfRange, .tensor("a")),
        ("trailing data", file(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, dataSize: 4), .outOfRange, .none),
        ("negative dim", file(header: #"{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}"#, dataSize: 0), .malformed, .tensor("a")),
        (
            "overflowing shape", file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, dataSize: 0),
            .outOfRange, .tensor("a")
        ),
        (
            "offsets not integers", file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}}"#, dataSize: 1), .malformed,
            .tensor("a")
        ),
        (
            "unknown field", file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}"#, dataSize: 1), .malformed,
            .tensor("a")
        ),
        ("metadata not strings", file(header: #"{"__metadata__":{"format":1}}"#, dataSize: 0), .malformed, .key("__metadata__.format")),
    ]

    @Test(arguments: hostile.indices)
    func refusesHostileHeaders(_ i: Int) throws {
        let (name, bytes, kind, location) = Self.hostile[i]
        let path = Self.temporaryPath()
        defer { unlink(path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: InputError.self, "\(name)") { try SafetensorsFile(path: path) }
        #expect(error?.kind == kind, "\(name): \(String(describing: error))")
        #expect(error?.location == location, "\(name): \(String(describing: error))")
        #expect(error?.file == path, "\(name)")
    }

    /// A copy of the sharded fixture with `edit` applied, opened as a set.
    static func openEditedCopy(_ edit: (String) throws -> Void) throws -> SafetensorsSet {
        let directory = temporaryPath("")
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("sharded").path, toPath: directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try edit(directory)
        return try SafetensorsSet(path: directory)
    }

    static func writeIndex(_ directory: String, _ json: String) throws {
        try Data(json.utf8).write(to: URL(fileURLWithPath: directory + "/model.safetensors.index.json"))
    }

    static let badSets: [(name: String, index: String?, removing: String?, kind: InputError.Kind, message: String)] = [
        (
            "missing shard", nil, "model-00002-of-00002.safetensors", .missing,
            "shard 'model-00002-of-00002.safetensors' named by the index is missing"
        ),
        (
            "named twice", #"{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","a.weight":"model-00002-of-00002.safetensors"}}"#,
            nil, .mismatch, "key 'a.weight' appears twice in one object"
        ),
        (
            "wrong file",
            #"{"weight_map":{"a.weight":"model-00002-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}}"#,
            nil, .mismatch, "the index places it in model-00002-of-00002.safetensors but model-00001-of-00002.safetensors holds it"
        ),
        (
            "absent tensor",
            #"{"weight_map":{"z.weight":"model-00002-of-00002.safetensors","a.weight":"model-00001-of-00002.safetensors"}}"#, nil, .missing,
            "the index places it in model-00002-of-00002.safetensors, which does not hold it"
        ),
        (
            "unindexed tensor",
            #"{"weight_map":{"a.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}}"#, nil,
            .mismatch, "model-00001-of-00002.safetensors holds it but the index does not name it"
        ),
        (
            "path escape", #"{"weight_map":{"a.weight":"../model-00001-of-00002.safetensors"}}"#, nil, .notAllowed,
            "shard '../model-00001-of-00002.safetensors' is not a file name beside the index"
        ),
    ]

    @Test(arguments: badSets.indices)
    func refusesInconsistentShardSets(_ i: Int) throws {
        let bad = Self.badSets[i]
        let error = #expect(throws: InputError.self, "\(bad.name)") {
            try Self.openEditedCopy { directory in
                if let index = bad.index { try Self.writeIndex(directory, index) }
                if let removing = bad.removing { try FileManager.default.removeItem(atPath: directory + "/" + removing) }
            }
        }
        #expect(error?.kind == bad.kind, "\(bad.name): \(String(describing: error))")
        #expect(error?.message == bad.message, "\(bad.name)")
    }
}
