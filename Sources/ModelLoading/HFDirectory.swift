import BinaryIO
import Llama
import LlamaTokenizers
import Safetensors
import TensorCore

/// A Hugging Face Llama directory (`docs/hf-format.md` §1): config.json, safetensors weights
/// (one file or shards with an index), and the tokenizer — `tokenizer.model` when the directory
/// has Meta's (Llama 2 repositories do), otherwise `tokenizer.json`.
public enum HFDirectory {
    /// Whether `path` is an HF directory (config.json with safetensors or `pytorch_model*.bin`
    /// weights), a `.safetensors` file, or a `.bin` file beside a config.json.
    public static func isHF(_ path: String) -> Bool {
        if FileSystem.kind(of: path) == .file {
            let configBeside = FileSystem.kind(of: FileSystem.join(FileSystem.parent(of: path), HFConfig.fileName)) == .file
            return path.hasSuffix(".safetensors") || (path.hasSuffix(".bin") && configBeside)
        }
        return FileSystem.kind(of: FileSystem.join(path, HFConfig.fileName)) == .file && HFWeights.arePresent(in: path)
    }

    /// Opens the directory: tensors under Meta's names, config.json checked against them.
    /// - Throws: `InputError` naming the file, key or tensor (the HF tensor name) that is missing
    ///   or contradicts the rest.
    public static func open(_ path: String, requireTokenizer: Bool, hint: String = "") throws -> ModelFiles.Checkpoint {
        let directory = FileSystem.kind(of: path) == .directory ? path : FileSystem.parent(of: path)
        let configPath = FileSystem.join(directory, HFConfig.fileName)
        guard FileSystem.kind(of: configPath) == .file else {
            throw InputError(.missing, "no config.json beside the weights: it defines the architecture", file: path)
        }
        let hfConfig = try attributing(to: configPath) {
            try HFConfig(parsing: try FileSystem.read(configPath, limit: HFConfig.maxFileBytes))
        }
        let weights = try HFWeights.open(path)
        guard hfConfig.headCount > 0, hfConfig.hiddenSize % hfConfig.headCount == 0 else {
            throw InputError(
                .mismatch, "hidden_size \(hfConfig.hiddenSize) is not divisible by num_attention_heads \(hfConfig.headCount)",
                at: .key("num_attention_heads"), file: configPath)
        }
        let source = HFLlamaSource(base: weights, headDim: hfConfig.hiddenSize / hfConfig.headCount)
        let (tokenizer, tokenizerPath) = try loadTokenizer(directory: directory)
        if tokenizer == nil && requireTokenizer {
            throw InputError(.missing, "no tokenizer.model or tokenizer.json beside the weights\(hint)", file: path)
        }
        let config = try attributing(to: configPath) {
            try hfConfig.llamaConfig(tokenizer: tokenizer.map { $0 is Llama3Tokenizer ? .tiktoken : .sentencepiece })
        }
        try namingHFTensors(in: path) { try config.validate(against: source) }
        if let tokenizer, tokenizer.vocabularySize != config.vocabSize {
            throw InputError(
                .mismatch, "the tokenizer defines \(tokenizer.vocabularySize) ids but config.json's vocab_size is \(config.vocabSize)",
                file: directory)
        }
        return ModelFiles.Checkpoint(
            path: path, format: "hf", source: source, config: config, tokenizer: tokenizer, tokenizerPath: tokenizerPath)
    }

    /// `tokenizer.model` when present (Meta's own file, scores included), else `tokenizer.json`.
    private static func loadTokenizer(directory: String) throws -> ((any Tokenizer)?, String?) {
        let model = FileSystem.join(directory, "tokenizer.model")
        if FileSystem.kind(of: model) == .file { return (try TokenizerLoader.load(path: model), model) }
        let json = FileSystem.join(directory, "tokenizer.json")
        guard FileSystem.kind(of: json) == .file else { return (nil, nil) }
        return (try HFTokenizerJSON.load(directory: directory).tokenizer, json)
    }

    /// Errors about a tensor name it as the directory does (`model.layers.0.self_attn.q_proj.weight`).
    private static func namingHFTensors<R>(in path: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch var error as InputError {
            if case .tensor(let meta) = error.location, let hf = HFNames.hf(for: meta) {
                error.location = .tensor(hf)
                error.message += " (Meta's \(meta))"
            }
            throw error.inFile(path)
        }
    }
}
