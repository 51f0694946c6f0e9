import ArgumentParser
import BinaryIO
import Foundation
import Llama
import LlamaTokenizers
import TensorCore
import TorchCheckpoint

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show every tensor of a checkpoint and the architecture it implies.",
        discussion: """
            PATH is a Meta checkpoint directory (consolidated.00.pth … NN.pth, params.json,
            tokenizer.model) or a single .pth file. Only the pickle is read, never the weights,
            so this takes milliseconds whatever the checkpoint's size. A sharded directory is shown
            as the merged logical model. A .pth that is not a Llama checkpoint still lists its
            tensors.

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

    func validate() throws {
        if json && tree { throw ValidationError("--json and --tree are exclusive: pick one") }
    }

    func run() throws {
        try reportingErrors {
            let report = try InspectReport(path: path)
            if json {
                print(try report.json())
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

    init(path: String) throws {
        checkpoint = try CheckpointDirectory.open(path)
        if let tokenizerPath = checkpoint.tokenizerPath {
            let head = try MappedFile(path: tokenizerPath)
            tokenizer = try attributing(to: tokenizerPath) { try TokenizerFormat.detect(head.copyBytes(0..<min(head.size, 4096))) }
        } else {
            tokenizer = nil
        }
        var config: LlamaConfig? = nil
        var configError: InputError? = nil
        if let paramsPath = checkpoint.paramsPath {
            let params = try LlamaParams.load(path: paramsPath)
            do {
                config = try LlamaConfig(params: params, tensors: checkpoint.source, tokenizer: tokenizer.map { $0 == .tiktoken ? .tiktoken : .sentencepiece })
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
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
            out.append("\(file.path): PyTorch zip, \(Formatting.bytes(size)), \(file.recordCount) records in '\(file.prefix)/', \(file.isBigEndian ? "big" : "little")-endian, data.pkl \(Formatting.grouped(file.pickleByteCount)) bytes")
        }
        if checkpoint.files.count > 1 {
            out.append("\(checkpoint.files.count) shards merged into one model (tensors below are the merged ones)")
        }
        out.append("")
        let rows = checkpoint.source.tensorInfos.map { info in
            [info.name, info.dtype.rawValue, Formatting.shape(info.shape), Formatting.grouped(info.elementCount), Formatting.grouped(info.byteCount), info.location]
        }
        out.append(Formatting.table(["tensor", "dtype", "shape", "params", "bytes", "record@offset"], rows, rightAligned: [3, 4]))
        out.append("")
        var totalRows = totals.map { [$0.dtype.rawValue, Formatting.grouped($0.count), Formatting.grouped($0.params), Formatting.grouped($0.bytes), Formatting.bytes($0.bytes)] }
        let all = totals.reduce((0, 0, 0)) { ($0.0 + $1.count, $0.1 + $1.params, $0.2 + $1.bytes) }
        totalRows.append(["total", Formatting.grouped(all.0), Formatting.grouped(all.1), Formatting.grouped(all.2), Formatting.bytes(all.2)])
        out.append(Formatting.table(["dtype", "tensors", "params", "bytes", ""], totalRows, rightAligned: [1, 2, 3, 4]))
        out.append("")
        if let config {
            var rows: [[String]] = [
                ["family", config.family.rawValue],
                ["layers", "\(config.layerCount)"],
                ["dim", "\(config.dim)"],
                ["heads", "\(config.headCount)"],
                ["kv heads", "\(config.kvHeadCount)\(config.kvHeadCount < config.headCount ? " (GQA, \(config.headCount / config.kvHeadCount) query heads per kv head)" : " (MHA)")"],
                ["head dim", "\(config.headDim)"],
                ["ffn hidden", "\(config.ffnHiddenSize)"],
                ["vocab", "\(config.vocabSize)\(config.defaultedKeys.contains("vocab_size") ? " (from tok_embeddings.weight)" : "")"],
                ["norm eps", "\(config.normEps)"],
                ["rope theta", "\(config.ropeTheta)\(config.defaultedKeys.contains("rope_theta") ? " (absent from params.json: default)" : "")"],
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
        if let tokenizer, let path = checkpoint.tokenizerPath {
            out.append("tokenizer: \(path): \(tokenizer == .tiktoken ? "tiktoken BPE ranks (Llama 3)" : "sentencepiece model (Llama 1/2)")")
        } else {
            out.append("tokenizer: no tokenizer.model beside the checkpoint")
        }
        return out.joined(separator: "\n")
    }

    func json() throws -> String {
        struct File: Encodable { var path: String; var prefix: String; var records: Int; var byteorder: String }
        struct Tensor: Encodable { var name: String; var dtype: String; var shape: [Int]; var bytes: Int; var location: String }
        struct Config: Encodable {
            var family: String, dim: Int, n_layers: Int, n_heads: Int, n_kv_heads: Int, head_dim: Int
            var ffn_hidden_size: Int, vocab_size: Int, norm_eps: Double, rope_theta: Double
            var rope_scaling_factor: Double?, context_length: Int, defaulted_keys: [String]
        }
        struct Tokenizer: Encodable { var path: String; var format: String }
        struct Report: Encodable {
            var format = "pytorch"
            var files: [File]
            var tensors: [Tensor]
            var config: Config?
            var config_error: String?
            var tokenizer: Tokenizer?
        }
        let report = Report(
            files: checkpoint.files.map { File(path: $0.path, prefix: $0.prefix, records: $0.recordCount, byteorder: $0.isBigEndian ? "big" : "little") },
            tensors: checkpoint.source.tensorInfos.map { Tensor(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape, bytes: $0.byteCount, location: $0.location) },
            config: config.map {
                Config(
                    family: $0.family.rawValue, dim: $0.dim, n_layers: $0.layerCount, n_heads: $0.headCount, n_kv_heads: $0.kvHeadCount,
                    head_dim: $0.headDim, ffn_hidden_size: $0.ffnHiddenSize, vocab_size: $0.vocabSize, norm_eps: $0.normEps,
                    rope_theta: $0.ropeTheta, rope_scaling_factor: $0.ropeScalingFactor, context_length: $0.contextLength,
                    defaulted_keys: $0.defaultedKeys)
            },
            config_error: configError.map(\.description),
            tokenizer: tokenizer.flatMap { format in checkpoint.tokenizerPath.map { Tokenizer(path: $0, format: format.rawValue) } })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}
