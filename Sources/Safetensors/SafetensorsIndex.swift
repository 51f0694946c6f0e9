import BinaryIO
import TensorCore

/// `model.safetensors.index.json` (`docs/safetensors.md` §4): which shard file holds each tensor.
/// `pytorch_model.bin.index.json` has the same form.
public struct SafetensorsIndex: Sendable, Equatable {
    public static let fileName = "model.safetensors.index.json"
    /// Largest index read; a 405B model's index is about 100 KB.
    public static let maxFileBytes = 64 << 20

    /// Tensor name → shard file name, in the index's order.
    public var weightMap: [(tensor: String, file: String)]
    public var totalSize: Int?
    /// Parameter count, which transformers 5 records beside `total_size`.
    public var totalParameters: Int?

    public static func == (lhs: SafetensorsIndex, rhs: SafetensorsIndex) -> Bool {
        lhs.totalSize == rhs.totalSize && lhs.totalParameters == rhs.totalParameters
            && lhs.weightMap.map(\.tensor) == rhs.weightMap.map(\.tensor)
            && lhs.weightMap.map(\.file) == rhs.weightMap.map(\.file)
    }

    public init(weightMap: [(tensor: String, file: String)], totalSize: Int?, totalParameters: Int? = nil) {
        self.weightMap = weightMap
        self.totalSize = totalSize
        self.totalParameters = totalParameters
    }

    /// - Throws: `InputError` for bad JSON, a tensor named twice, or a shard name that is not a
    ///   plain file name beside the index (the index must not point elsewhere on disk).
    public init(parsing bytes: [UInt8]) throws {
        guard let object = try JSONParser.parse(bytes).object else { throw InputError(.malformed, "the index is not a JSON object") }
        guard let map = object["weight_map"]?.object else { throw InputError(.missing, "no weight_map object", at: .key("weight_map")) }
        weightMap = try map.members.map { member in
            guard let file = member.value.string else {
                throw InputError(.malformed, "expected a file name, found \(member.value.kindName)", at: .key("weight_map.\(member.key)"))
            }
            guard !file.isEmpty, !file.contains("/"), file != ".", file != ".." else {
                throw InputError(.notAllowed, "shard '\(file)' is not a file name beside the index", at: .key("weight_map.\(member.key)"))
            }
            return (member.key, file)
        }
        totalSize = object["metadata"]?.object?["total_size"]?.integer
        totalParameters = object["metadata"]?.object?["total_parameters"]?.integer
    }

    /// The index as transformers writes it.
    public func bytes() -> [UInt8] {
        var metadata = JSONObject()
        if let totalParameters { metadata.insert("total_parameters", .integer(totalParameters)) }
        if let totalSize { metadata.insert("total_size", .integer(totalSize)) }
        let map = JSONObject(weightMap.map { ($0.tensor, .string($0.file)) })
        return JSONWriter.bytes(.object(JSONObject([("metadata", .object(metadata)), ("weight_map", .object(map))])))
    }

    /// Shard file names, sorted (`model-00001-of-00003.safetensors` first).
    public var files: [String] {
        Set(weightMap.map(\.file)).sorted()
    }
}

extension SafetensorsIndex {
    /// Opens the shards the index at `indexPath` names with `open`, and checks that the index and
    /// the files agree tensor for tensor.
    /// - Throws: `InputError` naming the index for a missing shard, a tensor placed in a file that
    ///   does not hold it or that another file holds, and a tensor no index entry names.
    public static func openShards(indexPath: String, open: (String) throws -> any TensorSource) throws -> TensorSourceUnion {
        let index = try attributing(to: indexPath) { try SafetensorsIndex(parsing: try FileSystem.read(indexPath, limit: maxFileBytes)) }
        let directory = FileSystem.parent(of: indexPath)
        let union = try TensorSourceUnion(
            index.files.map { name in
                let shard = FileSystem.join(directory, name)
                guard FileSystem.kind(of: shard) == .file else {
                    throw InputError(.missing, "shard '\(name)' named by the index is missing", file: indexPath)
                }
                return .init(name: name, path: shard, source: try open(shard))
            })
        try index.check(against: union, indexPath: indexPath)
        return union
    }

    private func check(against union: TensorSourceUnion, indexPath: String) throws {
        for (tensor, file) in weightMap {
            guard let holder = union.partName(holding: tensor) else {
                throw InputError(.missing, "the index places it in \(file), which does not hold it", at: .tensor(tensor), file: indexPath)
            }
            guard holder == file else {
                throw InputError(.mismatch, "the index places it in \(file) but \(holder) holds it", at: .tensor(tensor), file: indexPath)
            }
        }
        guard union.tensorInfos.count != weightMap.count else { return }
        let named = Set(weightMap.map(\.tensor))
        if let extra = union.tensorInfos.first(where: { !named.contains($0.name) }) {
            throw InputError(
                .mismatch, "\(union.partName(holding: extra.name) ?? "a shard") holds it but the index does not name it",
                at: .tensor(extra.name), file: indexPath)
        }
    }
}
