import ArgumentParser
import BinaryIO
import GGUF
import Llama
import LlamaTokenizers
import TensorCore
import TorchCheckpoint

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show every tensor of a checkpoint and the architecture it implies.",
        discussion: """
            PATH is a Meta checkpoint directory (consolidated.00.pth … NN.pth, params.json, tokenizer.model) or a single .pth file. Only the pickle is read, never the weights, so this takes milliseconds whatever the checkpoint's size. A sharded directory is shown as the merged logical model. A .pth that is not a Llama checkpoint still lists its tensors.

            No pickle code is ever executed. Exit status: 0 success; 2 bad usage or bad input (one message on stderr naming the file, the place inside it, and expected vs found), including a params.json that contradicts the tensors (the listing is printed first).

            Examples:
              llamakit inspect Meta-Llama-3.1-8B/
              llamakit inspect consolidated.00.pth --json | jq '.tensors | length'
              llamakit inspect Llama-2-13b/ --tree
            """
    )

    @Argument(help: "A checkpoint directory or a .pth file.")
    var path: String

    @Flag(help: "Print the same facts as JSON for scripts.")
    var json = false

    @Flag(help: "Print the module tree the way PyTorch prints the model.")
    var tree = false

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
                let report = GGUFReport(file: try GGUFFile(path: path))
                if tree {
                    throw InputError(.unsupported, "--tree is for PyTorch checkpoints; use the table or --json for GGUF", file: path)
                }
                print(json ? report.json() : report.text())
                return
            }
            let report = try InspectReport(path: path)
            if json {
                print(report.json())
            } else if tree {
                print(ModuleTree(tensors: report.checkpoint.source.tensorInfos, config: report.config).render())
            } else {
                print(report.text())
            }
            if let problem = report.configError { throw problem }
        }
    }
}

/// Everything `inspect` shows, gathered once from library calls.
struct InspectReport {
    let checkpoint: CheckpointDirectory
    let config: LlamaConfig?
    let configError: InputError?
    let tokenizer: TokenizerFormat?
    /// The tokenizer's vocabulary (ids), read with the real reader.
    let tokenizerVocabulary: Int?

    init(path: String) throws {
        checkpoint = try CheckpointDirectory.open(path)
        if let tokenizerPath = checkpoint.tokenizerPath {
            let model = try TokenizerLoader.load(path: tokenizerPath)
            tokenizer = model is Llama3Tokenizer ? .tiktoken : .sentencepiece
            tokenizerVocabulary = model.vocabularySize
        } else {
            tokenizer = nil
            tokenizerVocabulary = nil
        }
        var config: LlamaConfig? = nil
        var configError: InputError? = nil
        if let paramsPath = checkpoint.paramsPath {
            let params = try LlamaParams.load(path: paramsPath)
            do {
                let derived = try LlamaConfig(
                    params: params, tensors: checkpoint.source, tokenizer: tokenizer.map { $0 == .tiktoken ? .tiktoken : .sentencepiece })
                if let tokenizerVocabulary, tokenizerVocabulary != derived.vocabSize, let tokenizerPath = checkpoint.tokenizerPath {
                    throw InputError(
                        .mismatch,
                        "defines \(tokenizerVocabulary) ids but tok_embeddings.weight has \(derived.vocabSize) rows: the tokenizer does not belong to this checkpoint",
                        file: tokenizerPath)
                }
                config = derived
            } catch let error as InputError {
                configError = error.inFile(paramsPath)
            }
        }
        self.config = config
        self.configError = configError
    }

    private var totals: [(dtype: DType, count: Int, params: Int, bytes: Int)] {
        var byType: [DType: (Int, Int, Int)] = [:]
        for info in checkpoint.source.tensorInfos {
            let old = byType[info.dtype] ?? (0, 0, 0)
            byType[info.dtype] = (old.0 + 1, old.1 + info.elementCount, old.2 + info.byteCount)
        }
        return DType.allCases.compactMap { dtype in byType[dtype].map { (dtype, $0.0, $0.1, $0.2) } }
    }

    func text() -> String {
        var out: [String] = []
        for file in checkpoint.files {
            out.append(
                "\(file.path): PyTorch zip, \(Formatting.bytes(file.fileSize)), \(file.recordCount) records in '\(file.prefix)/', \(file.isBigEndian ? "big" : "little")-endian, data.pkl \(Formatting.grouped(file.pickleByteCount)) bytes"
            )
        }
        if checkpoint.files.count > 1 {
            out.append("\(checkpoint.files.count) shards merged into one model (tensors below are the merged ones)")
        }
        out.append("")
        let rows = checkpoint.source.tensorInfos.map { info in
            [
                info.name, info.dtype.rawValue, Formatting.shape(info.shape), Formatting.grouped(info.elementCount),
                Formatting.grouped(info.byteCount), info.location,
            ]
        }
        out.append(Formatting.table(["tensor", "dtype", "shape", "params", "bytes", "record@offset"], rows, rightAligned: [3, 4]))
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
        if let config {
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
                ["context", "\(config.contextLength) (trained length of the family)"],
            ]
            if checkpoint.files.count > 1 { rows.append(["model parallel", "\(checkpoint.files.count) shards"]) }
            out.append("config (\(checkpoint.paramsPath!)):")
            out.append(Formatting.columns(rows, indent: "  "))
        } else if checkpoint.paramsPath == nil {
            out.append("config: no params.json beside the checkpoint")
        } else {
            out.append("config: params.json does not match the tensors (see the error below)")
        }
        if let tokenizer, let path = checkpoint.tokenizerPath, let vocabulary = tokenizerVocabulary {
            let kind =
                tokenizer == .tiktoken
                ? "tiktoken BPE ranks (Llama 3), \(Formatting.grouped(vocabulary - 256)) ranks + 256 special tokens = \(Formatting.grouped(vocabulary)) ids"
                : "sentencepiece BPE model (Llama 1/2), \(Formatting.grouped(vocabulary)) pieces"
            out.append("tokenizer: \(path): \(kind)")
        } else {
            out.append("tokenizer: no tokenizer.model beside the checkpoint")
        }
        return out.joined(separator: "\n")
    }

    func json() -> String {
        let files: [JSONOutput] = checkpoint.files.map {
            .object([
                ("path", .string($0.path)), ("prefix", .string($0.prefix)), ("records", .int($0.recordCount)),
                ("byteorder", .string($0.isBigEndian ? "big" : "little")),
            ])
        }
        let tensors: [JSONOutput] = checkpoint.source.tensorInfos.map {
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
            ("format", .string("pytorch")), ("files", .array(files)), ("tensors", .array(tensors)), ("config", configJSON),
        ]
        if let configError { members.append(("config_error", .string(configError.description))) }
        let tokenizerJSON: JSONOutput =
            tokenizer.flatMap { format in
                checkpoint.tokenizerPath.map {
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
