import BinaryIO
import GGUF
import Llama
import LlamaTokenizers
import Safetensors
import TensorCore
import TorchCheckpoint

/// Opens what users point LlamaKit at — a Meta checkpoint directory, a Hugging Face directory
/// or a GGUF file — as a config, a tensor source under Meta's names and a tokenizer, and builds
/// the forward pass over it.
public enum ModelFiles {
    /// A checkpoint directory — Meta's (params.json, tokenizer.model) or Hugging Face's
    /// (config.json, tokenizer.json) — with its tensors under Meta's names.
    public struct Checkpoint {
        public let path: String
        /// "pth" (Meta's) or "hf" (Hugging Face's).
        public let format: String
        public let source: any TensorSource
        public let config: LlamaConfig
        public let tokenizer: (any Tokenizer)?
        /// The file the tokenizer was read from (tokenizer.model or tokenizer.json).
        public let tokenizerPath: String?
        /// What reading the files involves beyond concatenating shards (FP8 scales, KV copies kept once).
        public var layoutNotes: [String] = []
    }

    /// A model ready to run.
    public struct Opened {
        public let path: String
        /// "pth", "hf" or "gguf".
        public let format: String
        public let model: LlamaModel
        public let tokenizer: (any Tokenizer)?
        /// A GGUF file's `general.file_type` (llama.cpp's preset number), when it has one.
        public let fileType: UInt32?
    }

    /// The special-token names of a Llama 3 tokenizer, chosen from the params.json beside it.
    public static func release(besides tokenizerPath: String) -> Llama3Tokenizer.SpecialTokenSet {
        let paramsPath = FileSystem.join(FileSystem.parent(of: tokenizerPath), "params.json")
        guard FileSystem.kind(of: paramsPath) == .file, let params = try? LlamaParams.load(path: paramsPath) else { return .llama3_2 }
        switch LlamaConfig.family(params: params, tokenizer: .tiktoken) {
        case .llama3: return .llama3
        case .llama3_1: return .llama3_1
        default: return .llama3_2
        }
    }

    /// Opens a checkpoint directory (or one `.pth` file inside one) and checks params.json, the
    /// tensors and the tokenizer against each other.
    /// - Throws: `InputError` for a missing params.json, a missing tokenizer when
    ///   `requireTokenizer`, shapes that contradict params.json, or a tokenizer whose size
    ///   differs from the embedding.
    public static func openCheckpoint(_ path: String, requireTokenizer: Bool, hint: String = "") throws -> Checkpoint {
        if HFDirectory.isHF(path) { return try HFDirectory.open(path, requireTokenizer: requireTokenizer, hint: hint) }
        let directory = try CheckpointDirectory.open(path)
        guard let paramsPath = directory.paramsPath else {
            throw InputError(.missing, "no params.json beside the checkpoint: it defines the architecture", file: path)
        }
        var tokenizer: (any Tokenizer)? = nil
        if let tokenizerPath = directory.tokenizerPath {
            tokenizer = try TokenizerLoader.load(path: tokenizerPath, specialTokens: release(besides: tokenizerPath))
        } else if requireTokenizer {
            throw InputError(.missing, "no tokenizer.model beside the checkpoint\(hint)", file: path)
        }
        let config = try checkpointConfig(
            paramsPath: paramsPath, source: directory.source,
            tokenizer: tokenizer.map { $0 is Llama3Tokenizer ? .tiktoken : .sentencepiece })
        if let tokenizer, tokenizer.vocabularySize != config.vocabSize {
            throw InputError(
                .mismatch,
                "tokenizer.model defines \(tokenizer.vocabularySize) ids but the embedding has \(config.vocabSize) rows",
                file: directory.tokenizerPath)
        }
        return Checkpoint(
            path: directory.path, format: "pth", source: directory.source, config: config, tokenizer: tokenizer,
            tokenizerPath: tokenizer == nil ? nil : directory.tokenizerPath, layoutNotes: directory.layoutNotes)
    }

    /// The architecture of a Meta checkpoint: params.json checked against the (merged) tensors,
    /// with a shard set's KV heads counted once when its shards repeat them (`docs/formats.md` §2.10).
    /// - Throws: `InputError` naming params.json's key or the tensor that disagrees.
    public static func checkpointConfig(paramsPath: String, source: any TensorSource, tokenizer: TokenizerFormat?) throws -> LlamaConfig {
        var params = try LlamaParams.load(path: paramsPath)
        return try attributing(to: paramsPath) {
            if let set = source as? ShardSet { try ShardSetChecks.check(set, against: &params, paramsPath: paramsPath) }
            return try LlamaConfig(params: params, tensors: source, tokenizer: tokenizer)
        }
    }

    /// A model's files opened and checked — config, tensor table, tokenizer — before any weight
    /// is read or any cache allocated: what a memory plan is made from.
    public struct Prepared {
        public let path: String
        /// "pth", "hf" or "gguf".
        public let format: String
        public let config: LlamaConfig
        public let source: any TensorSource
        /// Meta name → the source's name.
        public let sourceName: (String) -> String
        public let rope: RotaryEmbedding?
        public let tokenizer: (any Tokenizer)?
        public let fileType: UInt32?

        /// The anonymous memory the model will take (`LlamaModel.memoryTerms`).
        /// - Throws: `InputError` if a file cannot be mapped.
        public func memoryTerms(maxSequenceLength: Int, positions: Int, logitRows: Int) throws -> [MemoryPlan.Term] {
            try attributing(to: path) {
                try LlamaModel.memoryTerms(
                    config: config, source: source, sourceName: sourceName, maxSequenceLength: maxSequenceLength, positions: positions,
                    logitRows: logitRows)
            }
        }

        /// What `generate` needs: a cache of `capacity` positions, a prompt of up to
        /// `promptPositions` run as one block, one row of logits per call.
        /// - Throws: `InputError` if a file cannot be mapped.
        public func generationPlan(capacity: Int, promptPositions: Int) throws -> MemoryPlan {
            let terms = try memoryTerms(maxSequenceLength: capacity, positions: max(1, promptPositions), logitRows: 1)
            return MemoryPlan(command: "generate", terms: terms, advice: "lower -n (--ctx with --chat)")
                .adding([MemoryPlan.Term("process", MemoryPlan.baseline)])
        }

        /// Builds the forward pass.
        /// - Throws: `InputError` naming a missing or mis-shaped tensor.
        public func model(maxSequenceLength: Int, threads: Int = 1) throws -> Opened {
            let model = try attributing(to: path) {
                try LlamaModel(
                    config: config, source: source, sourceName: sourceName, rope: rope, maxSequenceLength: maxSequenceLength,
                    threads: threads)
            }
            return Opened(path: path, format: format, model: model, tokenizer: tokenizer, fileType: fileType)
        }
    }

    /// Opens a checkpoint directory or a `.gguf` file (or split set, by its first file) without
    /// building the forward pass.
    /// - Parameter ropeScalingFactor: overrides the checkpoint's Llama 3.1 scaling factor.
    /// - Throws: `InputError` for anything missing or inconsistent, naming the file and key or tensor.
    public static func prepare(_ path: String, ropeScalingFactor: Double? = nil) throws -> Prepared {
        if FileSystem.kind(of: path) == .file, try isGGUF(path) {
            let file = try GGUFSplitSet(path: path)
            let (config, rope) = try attributing(to: path) { try configuration(of: file) }
            let tokenizer = file.value("tokenizer.ggml.model") == nil ? nil : try GGUFTokenizer.load(from: file)
            var fileType: UInt32? = nil
            if case .u32(let value)? = file.value("general.file_type") { fileType = value }
            return Prepared(
                path: path, format: "gguf", config: config, source: file, sourceName: { GGUFNames.gguf(for: $0) ?? $0 }, rope: rope,
                tokenizer: tokenizer, fileType: fileType)
        }
        let checkpoint = try openCheckpoint(path, requireTokenizer: false)
        var config = checkpoint.config
        if let ropeScalingFactor { config.ropeScalingFactor = ropeScalingFactor }
        return Prepared(
            path: path, format: checkpoint.format, config: config, source: checkpoint.source, sourceName: { $0 }, rope: nil,
            tokenizer: checkpoint.tokenizer, fileType: nil)
    }

    /// Builds the forward pass over a checkpoint directory or a `.gguf` file (or split set, by its first file).
    /// - Parameter ropeScalingFactor: overrides the checkpoint's Llama 3.1 scaling factor.
    /// - Throws: `InputError` for anything missing or inconsistent, naming the file and key or tensor.
    public static func open(
        _ path: String, maxSequenceLength: Int, threads: Int = 1, ropeScalingFactor: Double? = nil
    ) throws -> Opened {
        try prepare(path, ropeScalingFactor: ropeScalingFactor).model(maxSequenceLength: maxSequenceLength, threads: threads)
    }

    /// The tokenizer of a `.gguf` file or checkpoint directory, without building the model; nil
    /// when it has none.
    public static func tokenizer(of path: String) throws -> (any Tokenizer)? {
        if FileSystem.kind(of: path) == .file, try isGGUF(path) {
            let file = try GGUFSplitSet(path: path)
            return file.value("tokenizer.ggml.model") == nil ? nil : try GGUFTokenizer.load(from: file)
        }
        return try openCheckpoint(path, requireTokenizer: false).tokenizer
    }

    /// Whether the file at `path` starts with GGUF's magic (the caller checks it is a file).
    /// - Throws: `InputError` when it cannot be opened.
    public static func isGGUF(_ path: String) throws -> Bool {
        let file = try MappedFile(path: path)
        return file.size >= 4 && file.copyBytes(0..<4) == Array("GGUF".utf8)
    }

    /// The architecture from a GGUF file's `llama.*` keys (`docs/formats.md` §3.5), and
    /// RoPE from `rope_freqs.weight` when present (llama.cpp divides the base frequencies by it).
    public static func configuration(of file: GGUFSplitSet) throws -> (LlamaConfig, RotaryEmbedding?) {
        guard case .string(let architecture)? = file.value("general.architecture") else {
            throw InputError(.missing, "missing", at: .key("general.architecture"))
        }
        guard architecture == "llama" else {
            throw InputError(.unsupported, "architecture '\(architecture)' is not llama", at: .key("general.architecture"))
        }
        func integer(_ key: String) throws -> Int? {
            switch file.value(key) {
            case nil: return nil
            case .u32(let v)?: return Int(v)
            case .i32(let v)?: return Int(v)
            case .u64(let v)?: return Int(exactly: v)
            default: throw InputError(.mismatch, "expected an integer", at: .key(key))
            }
        }
        func required(_ key: String) throws -> Int {
            guard let value = try integer(key) else { throw InputError(.missing, "missing", at: .key(key)) }
            return value
        }
        func real(_ key: String) throws -> Double? {
            switch file.value(key) {
            case nil: return nil
            case .f32(let v)?: return Double(v)
            case .f64(let v)?: return v
            default: throw InputError(.mismatch, "expected a float", at: .key(key))
            }
        }
        let dim = try required("llama.embedding_length")
        let heads = try required("llama.attention.head_count")
        guard let embedding = file.info(named: "token_embd.weight"), embedding.shape.count == 2 else {
            throw InputError(.missing, "missing or not 2-D", at: .tensor("token_embd.weight"))
        }
        let vocab = try integer("llama.vocab_size") ?? embedding.shape[0]
        var family: LlamaFamily = .llama3
        if case .string("llama")? = file.value("tokenizer.ggml.model") { family = .llama2 }
        let rawTheta = try real("llama.rope.freq_base") ?? 10_000
        // The f32 key holds rope_theta rounded to float; Meta's arithmetic starts from Float(θ) too.
        let config = try LlamaConfig(
            family: family, dim: dim, layerCount: try required("llama.block_count"), headCount: heads,
            kvHeadCount: try integer("llama.attention.head_count_kv") ?? heads, ffnHiddenSize: try required("llama.feed_forward_length"),
            vocabSize: vocab, normEps: try real("llama.attention.layer_norm_rms_epsilon") ?? 1e-5, ropeTheta: rawTheta,
            ropeScalingFactor: nil, contextLength: try integer("llama.context_length") ?? family.contextLength)
        guard file.info(named: "rope_freqs.weight") != nil else { return (config, nil) }
        var divisors = [Float](repeating: 0, count: config.headDim / 2)
        guard let info = file.info(named: "rope_freqs.weight"), info.shape == [config.headDim / 2], info.dtype == .f32 else {
            throw InputError(.mismatch, "expected f32 [\(config.headDim / 2)]", at: .tensor("rope_freqs.weight"))
        }
        try file.withBytes(of: "rope_freqs.weight") { raw in
            for i in divisors.indices { divisors[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        }
        guard divisors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw InputError(.outOfRange, "factors must be finite and positive", at: .tensor("rope_freqs.weight"))
        }
        return (config, RotaryEmbedding(headDim: config.headDim, theta: rawTheta, divisors: divisors))
    }
}
