import BinaryIO
import Llama
import LlamaTokenizers

/// A transformers `config.json` for `LlamaForCausalLM` (`docs/hf-format.md` §4), read field by
/// field with errors that name the key. Both spellings of RoPE are read: `rope_theta` +
/// `rope_scaling` (transformers 4) and `rope_parameters` (transformers 5).
public struct HFConfig: Sendable, Equatable {
    public static let fileName = "config.json"
    public static let maxFileBytes = 1 << 20

    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    /// The `llama3` rope scaling factor, nil without scaling.
    public var ropeScalingFactor: Double?
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]

    /// Meta's `apply_scaling` constants; other values change RoPE in ways LlamaKit does not model.
    static let llama3Scaling: [(key: String, value: Double)] = [
        ("low_freq_factor", 1), ("high_freq_factor", 4), ("original_max_position_embeddings", 8192),
    ]

    /// - Throws: `InputError` naming the key: bad JSON, a missing or mistyped field, an
    ///   architecture other than Llama, or RoPE settings LlamaKit does not implement.
    public init(parsing bytes: [UInt8]) throws {
        guard bytes.count <= Self.maxFileBytes else {
            throw InputError(.overLimit, "config.json of \(bytes.count) bytes exceeds the cap of \(Self.maxFileBytes)")
        }
        guard let object = try JSONParser.parse(bytes).object else { throw InputError(.malformed, "config.json is not a JSON object") }
        try Self.checkArchitecture(object)
        func integer(_ key: String) throws -> Int? {
            guard let value = object[key], value != .null else { return nil }
            guard let number = value.integer else {
                throw InputError(.malformed, "expected an integer, found \(value.kindName)", at: .key(key))
            }
            return number
        }
        func required(_ key: String) throws -> Int {
            guard let value = try integer(key) else { throw InputError(.missing, "required for a Llama model", at: .key(key)) }
            return value
        }
        hiddenSize = try required("hidden_size")
        layerCount = try required("num_hidden_layers")
        headCount = try required("num_attention_heads")
        kvHeadCount = try integer("num_key_value_heads") ?? headCount
        intermediateSize = try required("intermediate_size")
        vocabSize = try required("vocab_size")
        maxPositionEmbeddings = try integer("max_position_embeddings") ?? 2048
        rmsNormEps = try Self.number(object, "rms_norm_eps") ?? 1e-6
        if let headDim = try integer("head_dim"), headCount > 0, headDim != hiddenSize / headCount {
            throw InputError(
                .unsupported, "head_dim \(headDim) differs from hidden_size / num_attention_heads = \(hiddenSize / headCount)",
                at: .key("head_dim"))
        }
        let rope = object["rope_parameters"]?.object
        ropeTheta =
            try Self.number(object, "rope_theta") ?? rope.flatMap { try Self.number($0, "rope_theta", prefix: "rope_parameters.") }
            ?? 10_000
        ropeScalingFactor = try Self.scalingFactor(
            object["rope_scaling"]?.object ?? rope, key: object["rope_scaling"] == nil ? "rope_parameters" : "rope_scaling")
        switch object["tie_word_embeddings"] {
        case nil, .null?: tieWordEmbeddings = false
        case .bool(let flag)?: tieWordEmbeddings = flag
        case let other?: throw InputError(.malformed, "expected a boolean, found \(other.kindName)", at: .key("tie_word_embeddings"))
        }
        bosTokenID = try integer("bos_token_id")
        switch object["eos_token_id"] {
        case nil, .null?: eosTokenIDs = []
        case .integer(let id)?: eosTokenIDs = [id]
        case .array(let ids)?:
            eosTokenIDs = try ids.map {
                guard let id = $0.integer else { throw InputError(.malformed, "expected integers", at: .key("eos_token_id")) }
                return id
            }
        case let other?: throw InputError(.malformed, "expected an integer or a list, found \(other.kindName)", at: .key("eos_token_id"))
        }
    }

    private static func checkArchitecture(_ object: JSONObject) throws {
        if let architectures = object["architectures"]?.array {
            let names = architectures.compactMap(\.string)
            guard names.contains("LlamaForCausalLM") else {
                throw InputError(
                    .unsupported, "architecture \(names.joined(separator: ", ")) is not LlamaForCausalLM", at: .key("architectures"))
            }
        } else if let type = object["model_type"]?.string, type != "llama" {
            throw InputError(.unsupported, "model_type '\(type)' is not llama", at: .key("model_type"))
        } else if object["architectures"] == nil && object["model_type"] == nil {
            throw InputError(.missing, "neither architectures nor model_type says this is a Llama model", at: .key("architectures"))
        }
    }

    private static func number(_ object: JSONObject, _ key: String, prefix: String = "") throws -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard let number = value.number else {
            throw InputError(.malformed, "expected a number, found \(value.kindName)", at: .key(prefix + key))
        }
        return number
    }

    /// The `llama3` factor of a rope scaling object; nil for none or `default`.
    private static func scalingFactor(_ scaling: JSONObject?, key: String) throws -> Double? {
        guard let scaling else { return nil }
        let type = scaling["rope_type"]?.string ?? scaling["type"]?.string ?? "default"
        if type == "default" { return nil }
        guard type == "llama3" else { throw InputError(.unsupported, "rope type '\(type)' is not supported (llama3 is)", at: .key(key)) }
        guard let factor = try number(scaling, "factor", prefix: key + "."), factor > 0 else {
            throw InputError(.missing, "llama3 rope scaling needs a positive factor", at: .key(key + ".factor"))
        }
        for (name, expected) in llama3Scaling {
            let found = try number(scaling, name, prefix: key + ".")
            guard found == expected else {
                throw InputError(
                    .unsupported, "\(found.map { "\($0)" } ?? "absent"), LlamaKit implements Meta's \(expected)", at: .key("\(key).\(name)")
                )
            }
        }
        return factor
    }

    /// The model's release, from the tokenizer kind and RoPE (`docs/hf-format.md` §4).
    public func family(tokenizer: TokenizerFormat?) -> LlamaFamily {
        let llama3Hints = bosTokenID == 128_000 || ropeTheta != 10_000 || ropeScalingFactor != nil
        if tokenizer == .sentencepiece || (tokenizer == nil && !llama3Hints) {
            return rmsNormEps <= 1e-6 && maxPositionEmbeddings <= 2048 ? .llama1 : .llama2
        }
        guard let factor = ropeScalingFactor else { return .llama3 }
        return factor == 32 ? .llama3_2 : .llama3_1
    }

    /// The `LlamaConfig` these fields describe.
    /// - Throws: `InputError` naming the first value out of range.
    public func llamaConfig(tokenizer: TokenizerFormat?) throws -> LlamaConfig {
        try LlamaConfig(
            family: family(tokenizer: tokenizer), dim: hiddenSize, layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount,
            ffnHiddenSize: intermediateSize, vocabSize: vocabSize, normEps: rmsNormEps, ropeTheta: ropeTheta,
            ropeScalingFactor: ropeScalingFactor, contextLength: maxPositionEmbeddings)
    }
}

extension HFConfig {
    /// The fields transformers' converter computes for `config` (`docs/hf-format.md` §4).
    /// - Parameter eosTokenIDs: one id, or several for instruct models (Llama 3: eos, eom, eot).
    public init(config: LlamaConfig, tied: Bool, bosTokenID: Int?, eosTokenIDs: [Int]) {
        hiddenSize = config.dim
        layerCount = config.layerCount
        headCount = config.headCount
        kvHeadCount = config.kvHeadCount
        intermediateSize = config.ffnHiddenSize
        vocabSize = config.vocabSize
        rmsNormEps = config.normEps
        ropeTheta = config.ropeTheta
        ropeScalingFactor = config.ropeScalingFactor
        maxPositionEmbeddings = config.contextLength
        tieWordEmbeddings = tied
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
    }

    /// config.json as transformers 4 writes it for `LlamaForCausalLM` (transformers 5 reads
    /// this form too), keys in its order.
    /// - Parameter dtype: `torch_dtype`: "bfloat16", "float16" or "float32".
    public func json(dtype: String) -> [UInt8] {
        let scaling: JSONValue =
            ropeScalingFactor.map { factor in
                .object(
                    JSONObject(
                        [("factor", JSONValue.double(factor))]
                            + Self.llama3Scaling.map {
                                ($0.key, $0.value == $0.value.rounded() ? .integer(Int($0.value)) : .double($0.value))
                            }
                            + [("rope_type", .string("llama3"))]))
            } ?? .null
        let eos: JSONValue = eosTokenIDs.count == 1 ? .integer(eosTokenIDs[0]) : .array(eosTokenIDs.map { .integer($0) })
        let members: [(String, JSONValue)] = [
            ("architectures", .array([.string("LlamaForCausalLM")])), ("attention_bias", .bool(false)), ("attention_dropout", .double(0)),
            ("bos_token_id", bosTokenID.map { .integer($0) } ?? .null), ("eos_token_id", eos),
            ("head_dim", .integer(hiddenSize / headCount)),
            ("hidden_act", .string("silu")), ("hidden_size", .integer(hiddenSize)), ("initializer_range", .double(0.02)),
            ("intermediate_size", .integer(intermediateSize)), ("max_position_embeddings", .integer(maxPositionEmbeddings)),
            ("mlp_bias", .bool(false)), ("model_type", .string("llama")), ("num_attention_heads", .integer(headCount)),
            ("num_hidden_layers", .integer(layerCount)), ("num_key_value_heads", .integer(kvHeadCount)), ("pretraining_tp", .integer(1)),
            ("rms_norm_eps", .double(rmsNormEps)), ("rope_scaling", scaling), ("rope_theta", .double(ropeTheta)),
            ("tie_word_embeddings", .bool(tieWordEmbeddings)), ("torch_dtype", .string(dtype)), ("use_cache", .bool(true)),
            ("vocab_size", .integer(vocabSize)),
        ]
        return JSONWriter.bytes(.object(JSONObject(members)))
    }

    /// generation_config.json; instruct models get Meta's sampling defaults as transformers'
    /// converter writes them.
    public func generationJSON(chat: Bool) -> [UInt8] {
        var members: [(String, JSONValue)] = [("bos_token_id", bosTokenID.map { .integer($0) } ?? .null)]
        members.append(("eos_token_id", eosTokenIDs.count == 1 ? .integer(eosTokenIDs[0]) : .array(eosTokenIDs.map { .integer($0) })))
        if chat { members += [("do_sample", .bool(true)), ("temperature", .double(0.6)), ("top_p", .double(0.9))] }
        return JSONWriter.bytes(.object(JSONObject(members)))
    }
}
