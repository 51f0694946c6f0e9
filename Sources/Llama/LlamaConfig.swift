import BinaryIO
import LlamaTokenizers
import TensorCore

/// A Llama architecture: params.json plus what it implies, checked against the tensors.
///
/// Derivations follow `docs/formats.md` §2: KV heads default to heads,
/// head dim = dim / heads, Meta's FFN formula (§2.3), vocab from the embedding when
/// `vocab_size` is -1, rope_theta 10000 when absent (§2.4), the 3.1 scaling factor by model
/// identity (§2.5), the context length by family (§2.8).
public struct LlamaConfig: Sendable, Equatable {
    public var family: LlamaFamily
    public var dim: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var ffnHiddenSize: Int
    public var vocabSize: Int
    public var normEps: Double
    public var ropeTheta: Double
    /// The `apply_scaling` factor for `use_scaled_rope` models (8, or 32 for 3.2 1B/3B); nil otherwise.
    public var ropeScalingFactor: Double?
    public var contextLength: Int
    /// True when params.json has `rope_theta`/`norm_eps`/… absent and defaults were used, by key.
    public var defaultedKeys: [String]

    /// A config stated field by field (a GGUF file's `llama.*` keys), checked for consistency.
    /// - Throws: `InputError` naming the first inconsistent field.
    public init(
        family: LlamaFamily, dim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, ffnHiddenSize: Int, vocabSize: Int,
        normEps: Double, ropeTheta: Double, ropeScalingFactor: Double?, contextLength: Int
    ) throws {
        func check(_ ok: Bool, _ key: String, _ message: String) throws { if !ok { throw InputError(.outOfRange, message, at: .key(key)) } }
        try check((1...Self.maxDim).contains(dim), "embedding_length", "\(dim) is outside 1…\(Self.maxDim)")
        try check((1...Self.maxLayers).contains(layerCount), "block_count", "\(layerCount) is outside 1…\(Self.maxLayers)")
        try check((1...Self.maxHeads).contains(headCount) && dim % headCount == 0, "head_count", "\(headCount) does not divide \(dim)")
        try check(kvHeadCount >= 1 && headCount % kvHeadCount == 0, "head_count_kv", "\(kvHeadCount) does not divide \(headCount) heads")
        try check((1...(Self.maxDim * 64)).contains(ffnHiddenSize), "feed_forward_length", "\(ffnHiddenSize) is out of range")
        try check(vocabSize >= 1 && vocabSize <= 1 << 24, "vocab_size", "\(vocabSize) is out of range")
        try check(normEps > 0 && normEps < 1, "layer_norm_rms_epsilon", "\(normEps) is outside (0, 1)")
        try check(ropeTheta > 1 && ropeTheta.isFinite, "rope.freq_base", "\(ropeTheta) must be a finite number > 1")
        self.family = family
        self.dim = dim
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        headDim = dim / headCount
        self.ffnHiddenSize = ffnHiddenSize
        self.vocabSize = vocabSize
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.ropeScalingFactor = ropeScalingFactor
        self.contextLength = contextLength
        defaultedKeys = []
    }

    /// Caps on params.json values so a hostile file cannot make sizes overflow.
    static let maxDim = 1 << 20
    static let maxLayers = 10_000
    static let maxHeads = 1 << 16

    /// Meta's `FeedForward` hidden size for `hidden_dim = 4·dim` (`docs/formats.md` §2.3), in Double, truncated.
    public static func ffnHiddenSize(dim: Int, multipleOf: Int, ffnDimMultiplier: Double?) -> Int {
        var hidden = Int((2.0 * Double(4 * dim) / 3.0).rounded(.towardZero))
        if let ffnDimMultiplier { hidden = Int((ffnDimMultiplier * Double(hidden)).rounded(.towardZero)) }
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf)
    }

    /// The release a params.json (and tokenizer kind) belongs to
    /// (`docs/formats.md` §2.9).
    public static func family(params: LlamaParams, tokenizer: TokenizerFormat?) -> LlamaFamily {
        let scaled = params.useScaledRope ?? false
        if tokenizer == .sentencepiece || (tokenizer == nil && params.ropeTheta == nil && !scaled) {
            return (params.normEps ?? 1e-5) <= 1e-6 ? .llama1 : .llama2
        }
        if scaled {
            let isSmall32 = (params.dim, params.nLayers) == (2048, 16) || (params.dim, params.nLayers) == (3072, 28)
            return isSmall32 ? .llama3_2 : .llama3_1
        }
        return .llama3
    }

    /// Derives the config from `params` and the tokenizer kind, taking the vocabulary from the
    /// embedding when params says -1, then checks every tensor Meta's model expects.
    /// - Throws: `InputError` naming the key or tensor, with expected and found values.
    public init(params: LlamaParams, tensors: any TensorSource, tokenizer: TokenizerFormat? = nil, validate: Bool = true) throws {
        func bad(_ kind: InputError.Kind, _ key: String, _ message: String) -> InputError { InputError(kind, message, at: .key(key)) }
        guard (1...Self.maxDim).contains(params.dim) else { throw bad(.outOfRange, "dim", "dim \(params.dim) is outside 1…\(Self.maxDim)") }
        guard (1...Self.maxLayers).contains(params.nLayers) else {
            throw bad(.outOfRange, "n_layers", "n_layers \(params.nLayers) is outside 1…\(Self.maxLayers)")
        }
        guard (1...Self.maxHeads).contains(params.nHeads) else {
            throw bad(.outOfRange, "n_heads", "n_heads \(params.nHeads) is outside 1…\(Self.maxHeads)")
        }
        guard params.dim % params.nHeads == 0 else {
            throw bad(.mismatch, "n_heads", "dim \(params.dim) is not divisible by n_heads \(params.nHeads)")
        }
        let kvHeads = params.nKvHeads ?? params.nHeads
        guard kvHeads >= 1, params.nHeads % kvHeads == 0 else {
            throw bad(.mismatch, "n_kv_heads", "n_heads \(params.nHeads) is not a multiple of n_kv_heads \(kvHeads)")
        }
        let multipleOf = params.multipleOf ?? 256
        guard (1...Self.maxDim).contains(multipleOf) else {
            throw bad(.outOfRange, "multiple_of", "multiple_of \(multipleOf) is outside 1…\(Self.maxDim)")
        }
        if let multiplier = params.ffnDimMultiplier, !(multiplier > 0 && multiplier <= 64) {
            throw bad(.outOfRange, "ffn_dim_multiplier", "ffn_dim_multiplier \(multiplier) is outside (0, 64]")
        }
        let normEps = params.normEps ?? 1e-5
        guard normEps > 0, normEps < 1 else { throw bad(.outOfRange, "norm_eps", "norm_eps \(normEps) is outside (0, 1)") }
        let ropeTheta = params.ropeTheta ?? 10_000
        guard ropeTheta > 1, ropeTheta.isFinite else {
            throw bad(.outOfRange, "rope_theta", "rope_theta \(ropeTheta) must be a finite number > 1")
        }

        var defaulted: [String] = []
        if params.nKvHeads == nil { defaulted.append("n_kv_heads") }
        if params.multipleOf == nil { defaulted.append("multiple_of") }
        if params.normEps == nil { defaulted.append("norm_eps") }
        if params.ropeTheta == nil { defaulted.append("rope_theta") }
        if params.vocabSize == nil || params.vocabSize == -1 { defaulted.append("vocab_size") }

        let scaled = params.useScaledRope ?? false
        let family = Self.family(params: params, tokenizer: tokenizer)

        self.family = family
        dim = params.dim
        layerCount = params.nLayers
        headCount = params.nHeads
        kvHeadCount = kvHeads
        headDim = params.dim / params.nHeads
        ffnHiddenSize = Self.ffnHiddenSize(dim: params.dim, multipleOf: multipleOf, ffnDimMultiplier: params.ffnDimMultiplier)
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        ropeScalingFactor = scaled ? (family == .llama3_2 ? 32 : 8) : nil
        contextLength = family.contextLength
        defaultedKeys = defaulted

        // The vocabulary comes from the embedding's rows; an explicit vocab_size must agree.
        guard let embedding = tensors.info(named: "tok_embeddings.weight") else {
            throw InputError(.missing, "missing: every Llama checkpoint has it", at: .tensor("tok_embeddings.weight"))
        }
        guard embedding.shape.count == 2 else {
            throw InputError(.mismatch, "expected shape [vocab, \(dim)], found \(embedding.shape)", at: .tensor("tok_embeddings.weight"))
        }
        if let declared = params.vocabSize, declared != -1, declared != embedding.shape[0] {
            throw InputError(
                .mismatch,
                "expected shape [\(declared), \(dim)] (params.json vocab_size), found \(embedding.shape)",
                at: .tensor("tok_embeddings.weight"))
        }
        vocabSize = embedding.shape[0]
        if validate { try self.validate(against: tensors) }
    }

    /// The name → shape table of Meta's model (`docs/formats.md` §2.1), without the optional `rope.freqs`.
    public var expectedShapes: [(name: String, shape: [Int])] {
        var table: [(String, [Int])] = [
            ("tok_embeddings.weight", [vocabSize, dim]), ("norm.weight", [dim]), ("output.weight", [vocabSize, dim]),
        ]
        for layer in 0..<layerCount {
            let prefix = "layers.\(layer)."
            table += [
                (prefix + "attention.wq.weight", [headCount * headDim, dim]),
                (prefix + "attention.wk.weight", [kvHeadCount * headDim, dim]),
                (prefix + "attention.wv.weight", [kvHeadCount * headDim, dim]),
                (prefix + "attention.wo.weight", [dim, headCount * headDim]),
                (prefix + "feed_forward.w1.weight", [ffnHiddenSize, dim]),
                (prefix + "feed_forward.w2.weight", [dim, ffnHiddenSize]),
                (prefix + "feed_forward.w3.weight", [ffnHiddenSize, dim]),
                (prefix + "attention_norm.weight", [dim]),
                (prefix + "ffn_norm.weight", [dim]),
            ]
        }
        return table
    }

    /// Checks that every expected tensor exists with its shape, and nothing unexpected is there.
    /// - Throws: `InputError` naming the first tensor that is missing, misshapen or unexpected.
    public func validate(against tensors: any TensorSource) throws {
        let w1 = "layers.0.feed_forward.w1.weight"
        if let found = tensors.info(named: w1)?.shape, found.count == 2, found[0] != ffnHiddenSize, found[1] == dim {
            throw InputError(
                .mismatch,
                "expected shape [\(ffnHiddenSize), \(dim)] (Meta's FFN formula from dim, multiple_of and ffn_dim_multiplier), found \(found): check params.json",
                at: .tensor(w1))
        }
        var expectedNames: Set<String> = ["rope.freqs"]
        for (name, shape) in expectedShapes {
            expectedNames.insert(name)
            guard let info = tensors.info(named: name) else {
                throw InputError(.missing, "missing: params.json (\(layerCount) layers) implies it", at: .tensor(name))
            }
            guard info.shape == shape else {
                throw InputError(.mismatch, "expected shape \(shape), found \(info.shape)", at: .tensor(name))
            }
            guard info.dtype.isFloatingPoint else {
                throw InputError(.mismatch, "expected a floating-point tensor, found \(info.dtype.rawValue)", at: .tensor(name))
            }
        }
        if let freqs = tensors.info(named: "rope.freqs"), freqs.shape != [headDim / 2] {
            throw InputError(.mismatch, "expected shape [\(headDim / 2)] (head_dim / 2), found \(freqs.shape)", at: .tensor("rope.freqs"))
        }
        if let extra = tensors.tensorInfos.first(where: { !expectedNames.contains($0.name) }) {
            throw InputError(.mismatch, "unexpected: not part of a \(layerCount)-layer Llama model", at: .tensor(extra.name))
        }
    }
}
