import BinaryIO
import FoundationEssentials

/// `params.json` exactly as Meta writes it; absent keys stay nil, unknown keys are ignored
/// (as Meta's `ModelArgs` does). See `docs/formats.md` §2.2.
public struct LlamaParams: Decodable, Sendable, Equatable {
    public var dim: Int
    public var nLayers: Int
    public var nHeads: Int
    public var nKvHeads: Int?
    public var vocabSize: Int?
    public var multipleOf: Int?
    public var ffnDimMultiplier: Double?
    public var normEps: Double?
    public var ropeTheta: Double?
    public var useScaledRope: Bool?

    enum CodingKeys: String, CodingKey {
        case dim
        case nLayers = "n_layers"
        case nHeads = "n_heads"
        case nKvHeads = "n_kv_heads"
        case vocabSize = "vocab_size"
        case multipleOf = "multiple_of"
        case ffnDimMultiplier = "ffn_dim_multiplier"
        case normEps = "norm_eps"
        case ropeTheta = "rope_theta"
        case useScaledRope = "use_scaled_rope"
    }

    public init(
        dim: Int, nLayers: Int, nHeads: Int, nKvHeads: Int? = nil, vocabSize: Int? = nil, multipleOf: Int? = nil,
        ffnDimMultiplier: Double? = nil, normEps: Double? = nil, ropeTheta: Double? = nil, useScaledRope: Bool? = nil
    ) {
        self.dim = dim
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.nKvHeads = nKvHeads
        self.vocabSize = vocabSize
        self.multipleOf = multipleOf
        self.ffnDimMultiplier = ffnDimMultiplier
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.useScaledRope = useScaledRope
    }

    /// Largest params.json we read; Meta's are about 200 bytes.
    public static let maxFileBytes = 1 << 20

    /// Parses the bytes of a params.json.
    /// - Throws: `InputError` naming the key and the expected type, or the JSON syntax error.
    public static func parse(_ data: [UInt8], file: String? = nil) throws -> LlamaParams {
        guard data.count <= maxFileBytes else {
            throw InputError(.overLimit, "params.json of \(data.count) bytes exceeds the cap of \(maxFileBytes)", file: file)
        }
        do {
            return try JSONDecoder().decode(LlamaParams.self, from: Data(data))
        } catch DecodingError.keyNotFound(let key, _) {
            throw InputError(.missing, "required key is missing", at: .key(key.stringValue), file: file)
        } catch DecodingError.typeMismatch(let type, let context), DecodingError.valueNotFound(let type, let context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw InputError(
                .mismatch,
                "expected \(type == Int.self ? "an integer" : type == Bool.self ? "true or false" : "a number"), found something else",
                at: .key(key), file: file)
        } catch DecodingError.dataCorrupted(let context) {
            throw InputError(
                .malformed, "not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)", file: file)
        }
    }

    /// Reads and parses a params.json file.
    public static func load(path: String) throws -> LlamaParams {
        try parse(try FileSystem.read(path, limit: maxFileBytes), file: path)
    }
}
