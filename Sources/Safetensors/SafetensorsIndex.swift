import BinaryIO

/// `model.safetensors.index.json` (`docs/safetensors.md` §4): which shard file holds each tensor.
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
