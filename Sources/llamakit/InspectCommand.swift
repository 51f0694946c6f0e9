import ArgumentParser
import BinaryIO
import GGUF
import Llama
import LlamaTokenizers
import ModelLoading
import Safetensors
import TensorCore
import TorchCheckpoint

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show every tensor of a checkpoint and the architecture it implies.",
        discussion: """
            PATH is a Meta checkpoint directory (consolidated.00.pth … NN.pth, params.json, tokenizer.model) or a single .pth file, a Hugging Face directory (config.json, model*.safetensors, tokenizer.json) or a .safetensors file, or a .gguf file. Only headers are read, never the weights (of a shard set, also its norms and first layer's KV slices, to check that the shards belong together and whether they repeat KV heads), so this takes milliseconds whatever the checkpoint's size. A sharded Meta directory is shown as the merged logical model, with what reading it involves (KV heads kept once, FP8 weights and their scale files); an HF directory lists its tensors under their HF names, file by file. A file that is not a Llama checkpoint still lists its tensors.

            No pickle code is ever executed. Exit status: 0 success; 2 bad usage or bad input (one message on stderr naming the file, the place inside it, and expected vs found), including a params.json that contradicts the tensors (the listing is printed first).

            Examples:
              llamakit inspect Meta-Llama-3.1-8B/
              llamakit inspect consolidated.00.pth --json | jq '.tensors | length'
              llamakit inspect Llama-2-13b/ --tree
              llamakit inspect Llama-3.2-1B-Instruct/ --json | jq .config
            """
    )

    @Argument(help: "A Meta or Hugging Face checkpoint directory, or a .pth, .safetensors or .gguf file.")
    var path: String

    @Flag(help: "Print the same facts as JSON for scripts.")
    var json = false

    @Flag(help: "Print the module tree the way PyTorch prints the model.")
    var tree = false

    @OptionGroup var memory: MemoryOptions

    /// Reads 4 bytes, never the file.
    static func startsWithGGUFMagic(_ path: String) -> Bool {
        guard FileSystem.kind(of: path) == .file, let reader = try? FileReader(path: path), reader.size >= 4 else { return false }
        return (try? reader.bytes(0..<4)) == Array("GGUF".utf8)
    }

    func validate() throws {
        if json && tree { throw ValidationError("--json and --tree are exclusive: pick one") }
    }

    func run() throws {
        try reportingErrors {
            if path.hasSuffix(".gguf") || Self.startsWithGGUFMagic(path) {
                let file = try GGUFSplitSet(path: path)
                try MemoryPlan.listing(command: "inspect", tensorCount: file.tensorInfos.count).check(limit: memory.limit)
                let report = GGUFReport(file: file)
                if tree {
                    throw InputError(.unsupported, "--tree is for PyTorch checkpoints; use the table or --json for GGUF", file: path)
                }
                print(json ? report.json() : report.text())
                return
            }
            let report = try HFDirectory.isHF(path) ? InspectReport(hf: path) : InspectReport(path: path)
            try MemoryPlan.listing(command: "inspect", tensorCount: report.source.tensorInfos.count).check(limit: memory.limit)
            if tree && report.format == "safetensors" {
                throw InputError(.unsupported, "--tree is for PyTorch checkpoints; use the table or --json for safetensors", file: path)
            }
            if json {
                print(report.json())
            } else if tree {
                print(ModuleTree(tensors: report.source.tensorInfos, config: report.config).render())
            } else {
                print(report.text())
            }
            if let problem = report.configError { throw problem }
        }
    }
}

/// Everything `inspect` shows, gathered once from library calls.
struct InspectReport {
    /// "pytorch" or "safetensors".
    let format: String
    /// One line per file read, for the text form, and the same facts for JSON.
    let fileLines: [String]
    let filesJSON: [JSONOutput]
    /// The tensors as stored (an HF directory keeps its HF names here).
    let source: any TensorSource
    /// Meta checkpoint shards merged into one model; 1 otherwise.
    let modelParallel: Int
    /// What reading the shards involves beyond concatenation: repeated KV heads kept once, FP8
    /// weights scaled (one line each, after the file lines).
    let layoutNotes: [String]
    /// Tensors served in another type than the files store (FP8 read as f32): the stored type.
    let storedTypes: [String: DType]
    let configPath: String?
    let config: LlamaConfig?
    let configError: InputError?
    let tokenizerPath: String?
    let tokenizer: TokenizerFormat?
    /// The tokenizer's vocabulary (ids), read with the real reader.
    let tokenizerVocabulary: Int?

    /// A Meta checkpoint directory or `.pth` file.
    init(path: String) throws {
        let checkpoint = try CheckpointDirectory.open(path)
        format = "pytorch"
        fileLines = checkpoint.files.map(Self.line)
        filesJSON = checkpoint.files.map(Self.json)
        source = checkpoint.source
        modelParallel = checkpoint.files.count
        layoutNotes = checkpoint.layoutNotes
        storedTypes = checkpoint.storedTypes
        tokenizerPath = checkpoint.tokenizerPath
        (tokenizer, tokenizerVocabulary) = try Self.describeTokenizer(at: checkpoint.tokenizerPath)
        configPath = checkpoint.paramsPath
        (config, configError) = Self.deriving(file: checkpoint.paramsPath) { [tokenizer, tokenizerVocabulary] paramsPath in
            let derived = try ModelFiles.checkpointConfig(paramsPath: paramsPath, source: checkpoint.source, tokenizer: tokenizer)
            if let tokenizerVocabulary, tokenizerVocabulary != derived.vocabSize, let tokenizerPath = checkpoint.tokenizerPath {
                throw InputError(
                    .mismatch,
                    "defines \(tokenizerVocabulary) ids but tok_embeddings.weight has \(derived.vocabSize) rows: the tokenizer does not belong to this checkpoint",
                    file: tokenizerPath)
            }
            return derived
        }
    }

    /// A Hugging Face directory or `.safetensors` file: tensors under their stored names, the
    /// config from config.json checked against them under Meta's names.
    init(hf path: String) throws {
        let weights = try HFWeights.open(path)
        let parts = (weights as? TensorSourceUnion)?.parts.map(\.source) ?? (weights as? SafetensorsSet)?.files ?? [weights]
        let safetensors = parts.compactMap { $0 as? SafetensorsFile }
        let pytorch = parts.compactMap { $0 as? PthFile }
        format = safetensors.isEmpty ? "pytorch" : "safetensors"
        fileLines = safetensors.map(Self.line) + pytorch.map(Self.line)
        filesJSON = safetensors.map(Self.json) + pytorch.map(Self.json)
        source = weights
        modelParallel = 1
        layoutNotes = []
        storedTypes = [:]
        let directory = FileSystem.kind(of: path) == .directory ? path : FileSystem.parent(of: path)
        // Meta's tokenizer.model when the directory has one (Llama 2 repositories do), as loading prefers it.
        tokenizerPath = ["tokenizer.model", "tokenizer.json"].map { FileSystem.join(directory, $0) }.first {
            FileSystem.kind(of: $0) == .file
        }
        (tokenizer, tokenizerVocabulary) = try Self.describeTokenizer(at: tokenizerPath)
        let configFile = FileSystem.join(directory, HFConfig.fileName)
        configPath = FileSystem.kind(of: configFile) == .file ? configFile : nil
        (config, configError) = Self.deriving(file: configPath) { _ in
            try HFDirectory.open(path, requireTokenizer: false).config
        }
    }

    private static func line(_ file: PthFile) -> String {
        "\(file.path): PyTorch zip, \(Formatting.bytes(file.fileSize)), \(file.recordCount) records in '\(file.prefix)/', \(file.isBigEndian ? "big" : "little")-endian, data.pkl \(Formatting.grouped(file.pickleByteCount)) bytes"
    }

    private static func json(_ file: PthFile) -> JSONOutput {
        .object([
            ("path", .string(file.path)), ("prefix", .string(file.prefix)), ("records", .int(file.recordCount)),
            ("byteorder", .string(file.isBigEndian ? "big" : "little")),
        ])
    }

    private static func line(_ file: SafetensorsFile) -> String {
        let metadata = file.header.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        let size = file.header.dataOffset + file.tensorInfos.map(\.byteCount).reduce(0, +)
        return
            "\(file.path): safetensors, \(Formatting.bytes(size)), \(file.tensorInfos.count) tensors, header \(Formatting.grouped(file.header.dataOffset - 8)) bytes\(metadata.isEmpty ? "" : ", metadata \(metadata)")"
    }

    private static func json(_ file: SafetensorsFile) -> JSONOutput {
        .object([
            ("path", .string(file.path)), ("tensors", .int(file.tensorInfos.count)), ("header_bytes", .int(file.header.dataOffset - 8)),
            ("metadata", .object(file.header.metadata.map { ($0.key, .string($0.value)) })),
        ])
    }

    private static func describeTokenizer(at path: String?) throws -> (TokenizerFormat?, Int?) {
        guard let path else { return (nil, nil) }
        let model = try TokenizerLoader.load(path: path)
        return (model is Llama3Tokenizer ? .tiktoken : .sentencepiece, model.vocabularySize)
    }

    /// The config from `file`, or the error that stopped it (shown after the listing).
    private static func deriving(file: String?, _ derive: (String) throws -> LlamaConfig) -> (LlamaConfig?, InputError?) {
        guard let file else { return (nil, nil) }
        do {
            return (try derive(file), nil)
        } catch let error as InputError {
            return (nil, error.inFile(file))
        } catch {
            return (nil, InputError(.malformed, "\(error)", file: file))
        }
    }

    /// The tensors as the files store them (an FP8 weight as f8_e4m3fn, not the f32 it is read as).
    private var listedInfos: [TensorInfo] {
        source.tensorInfos.map { info in
            guard let stored = storedTypes[info.name] else { return info }
            return TensorInfo(name: info.name, dtype: stored, shape: info.shape, location: info.location)
        }
    }

    private var configName: String { configPath.map(FileSystem.baseName) ?? "params.json" }

    private var totals: [(dtype: DType, count: Int, params: Int, bytes: Int)] {
        var byType: [DType: (Int, Int, Int)] = [:]
        for info in listedInfos {
            let old = byType[info.dtype] ?? (0, 0, 0)
            byType[info.dtype] = (old.0 + 1, old.1 + info.elementCount, old.2 + info.byteCount)
        }
        return DType.allCases.compactMap { dtype in byType[dtype].map { (dtype, $0.0, $0.1, $0.2) } }
    }

    func text() -> String {
        var out = fileLines
        if modelParallel > 1 { out.append("\(modelParallel) shards merged into one model (tensors below are the merged ones)") }
        out += layoutNotes
        out.append("")
        let rows = listedInfos.map { info in
            [
                info.name, info.dtype.rawValue, Formatting.shape(info.shape), Formatting.grouped(info.elementCount),
                Formatting.grouped(info.byteCount), info.location,
            ]
        }
        let locationHeader = format == "safetensors" ? "file:offset" : "record@offset"  // .bin shards: file:record@offset
        out.append(Formatting.table(["tensor", "dtype", "shape", "params", "bytes", locationHeader], rows, rightAligned: [3, 4]))
        out.append("")
        var totalRows = totals.map {
            [
                $0.dtype.rawValue, Formatting.grouped($0.count), Formatting.grouped($0.params), Formatting.grouped($0.bytes),
                Formatting.bytes($0.bytes),
            ]
        }
        let all = totals.reduce((0, 0, 0)) { ($0.0 + $1.count, $0.1 + $1.params, $0.2 + $1.bytes) }
        totalRows.append([
            "total", Formatting.grouped(all.0), Formatting.grouped(all.1), Formatting.grouped(all.2), Formatting.bytes(all.2),
        ])
        out.append(Formatting.table(["dtype", "tensors", "params", "bytes", ""], totalRows, rightAligned: [1, 2, 3, 4]))
        out.append("")
        out += configLines()
        out.append(tokenizerLine())
        return out.joined(separator: "\n")
    }

    private func configLines() -> [String] {
        guard let config, let configPath else {
            return [
                configPath == nil
                    ? "config: no \(configName) beside the checkpoint"
                    : "config: \(configName) does not match the tensors (see the error below)"
            ]
        }
        let fromFile = configName == HFConfig.fileName ? "max_position_embeddings" : "trained length of the family"
        var rows: [[String]] = [
            ["family", config.family.rawValue],
            ["layers", "\(config.layerCount)"],
            ["dim", "\(config.dim)"],
            ["heads", "\(config.headCount)"],
            [
                "kv heads",
                "\(config.kvHeadCount)\(config.kvHeadCount < config.headCount ? " (GQA, \(config.headCount / config.kvHeadCount) query heads per kv head)" : " (MHA)")",
            ],
            ["head dim", "\(config.headDim)"],
            ["ffn hidden", "\(config.ffnHiddenSize)"],
            ["vocab", "\(config.vocabSize)\(config.defaultedKeys.contains("vocab_size") ? " (from tok_embeddings.weight)" : "")"],
            ["norm eps", "\(config.normEps)"],
            [
                "rope theta",
                "\(config.ropeTheta)\(config.defaultedKeys.contains("rope_theta") ? " (absent from params.json: default)" : "")",
            ],
            ["rope scaling", config.ropeScalingFactor.map { "Llama 3.1 apply_scaling, factor \(Int($0))" } ?? "none"],
            ["context", "\(config.contextLength) (\(fromFile))"],
        ]
        if modelParallel > 1 { rows.append(["model parallel", "\(modelParallel) shards"]) }
        return ["config (\(configPath)):", Formatting.columns(rows, indent: "  ")]
    }

    private func tokenizerLine() -> String {
        guard let tokenizer, let tokenizerPath, let vocabulary = tokenizerVocabulary else {
            return
                "tokenizer: no \(format == "safetensors" ? "tokenizer.model or tokenizer.json" : "tokenizer.model") beside the checkpoint"
        }
        let json = tokenizerPath.hasSuffix(".json")
        let kind =
            tokenizer == .tiktoken
            ? "\(json ? "byte-level BPE" : "tiktoken BPE ranks") (Llama 3), \(Formatting.grouped(vocabulary - 256)) ranks + 256 special tokens = \(Formatting.grouped(vocabulary)) ids"
            : "\(json ? "BPE with byte fallback" : "sentencepiece BPE model") (Llama 1/2), \(Formatting.grouped(vocabulary)) pieces"
        return "tokenizer: \(tokenizerPath): \(kind)"
    }

    func json() -> String {
        let tensors: [JSONOutput] = listedInfos.map {
            .object([
                ("name", .string($0.name)), ("dtype", .string($0.dtype.rawValue)), ("shape", .array($0.shape.map { .int($0) })),
                ("bytes", .int($0.byteCount)), ("location", .string($0.location)),
            ])
        }
        let configJSON: JSONOutput =
            config.map { config in
                .object([
                    ("family", .string(config.family.rawValue)), ("dim", .int(config.dim)), ("n_layers", .int(config.layerCount)),
                    ("n_heads", .int(config.headCount)), ("n_kv_heads", .int(config.kvHeadCount)), ("head_dim", .int(config.headDim)),
                    ("ffn_hidden_size", .int(config.ffnHiddenSize)), ("vocab_size", .int(config.vocabSize)),
                    ("norm_eps", .double(config.normEps)), ("rope_theta", .double(config.ropeTheta)),
                    ("rope_scaling_factor", config.ropeScalingFactor.map { .double($0) } ?? .null),
                    ("context_length", .int(config.contextLength)),
                    ("defaulted_keys", .array(config.defaultedKeys.map { .string($0) })),
                ])
            } ?? .null
        var members: [(String, JSONOutput)] = [
            ("format", .string(format)), ("files", .array(filesJSON)), ("tensors", .array(tensors)), ("config", configJSON),
        ]
        if let configError { members.append(("config_error", .string(configError.description))) }
        if !layoutNotes.isEmpty { members.append(("layout_notes", .array(layoutNotes.map { .string($0) }))) }
        let tokenizerJSON: JSONOutput =
            tokenizer.flatMap { format in
                tokenizerPath.map {
                    JSONOutput.object([
                        ("path", .string($0)), ("format", .string(format.rawValue)),
                        ("vocab_size", tokenizerVocabulary.map { .int($0) } ?? .null),
                    ])
                }
            } ?? .null
        members.append(("tokenizer", tokenizerJSON))
        return JSONOutput.object(members).rendered()
    }
}
