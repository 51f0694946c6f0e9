import ArgumentParser
import BinaryIO
import Conversion
import GGUF
import ImportanceMatrix
import TensorCore

#if canImport(Glibc)
    import Glibc
#endif

/// `--threads`, the same for every command that computes: results do not depend on the count.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: the CPUs online, at most 8). Results are the same for any count.")
    var threads: Int = min(8, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    func validate() throws {
        if threads < 1 || threads > 256 { throw ValidationError("--threads must be 1…256") }
    }
}

/// `--max-memory`, the same for every command that reads a model: the command works out the
/// memory it will take before it starts and refuses a plan over the limit (`docs/memory.md`).
struct MemoryOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Refuse to start when the command would need more than SIZE of memory (mapped model files excluded; e.g. 8G, 500M, as --split-max-size reads them; default: 80 % of RAM).",
            valueName: "size"))
    var maxMemory: ByteSize?

    var limit: Int { maxMemory?.bytes ?? MemoryPlan.defaultLimit() }
}

/// How `convert` and `quantize` write their output.
struct WriteOptions: ParsableArguments {
    @OptionGroup var threadOptions: ThreadOptions

    @Flag(help: "Skip the fsync before the final rename: faster, but after a power cut (not a crash) the file may be empty.")
    var noSync = false

    var threads: Int { threadOptions.threads }
}

/// llama.cpp's split output (`docs/split-gguf.md`), the same for `convert` and `quantize`.
struct SplitOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Write a split set NAME-00001-of-0000N.gguf … with at most SIZE of tensor data per file (e.g. 2G, 500M: M and G are powers of 1000, as llama-gguf-split reads them; 2GiB also works).",
            valueName: "size"))
    var splitMaxSize: ByteSize?

    @Option(help: ArgumentHelp("Write a split set NAME-00001-of-0000N.gguf … with at most N tensors per file.", valueName: "n"))
    var splitMaxTensors: Int?

    func validate() throws {
        if splitMaxSize != nil && splitMaxTensors != nil { throw ValidationError("give --split-max-size or --split-max-tensors, not both") }
        if let splitMaxTensors, splitMaxTensors < 1 { throw ValidationError("--split-max-tensors must be at least 1") }
    }

    var isGiven: Bool { limit != nil }

    var limit: GGUFSplit.Limit? {
        if let splitMaxTensors { return .maxTensors(splitMaxTensors) }
        return splitMaxSize.map { .maxBytes($0.bytes) }
    }

    /// "wrote …" for one file or a set.
    static func wrote(_ files: [String]) -> String {
        files.count == 1 ? "wrote \(files[0])" : "wrote \(files.count) files"
    }
}

/// Token ids on the command line: `128000,791,6864` (commas or spaces between ids).
struct TokenIDList: ExpressibleByArgument {
    var ids: [Int]

    init?(argument: String) {
        let parts = argument.split(whereSeparator: { $0 == "," || $0 == " " })
        var ids: [Int] = []
        for part in parts {
            guard let id = Int(part) else { return nil }
            ids.append(id)
        }
        guard !ids.isEmpty else { return nil }
        self.ids = ids
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// Text to run a model on, tokenized with the model's own tokenizer (`verify`, `generate`,
/// `perplexity`).
struct TextOptions: ParsableArguments {
    @Option(help: "The text (tokenized with the model's tokenizer, after a beginning-of-text token).")
    var text: String?

    @Option(help: "A UTF-8 text file to read the text from.")
    var textFile: String?

    @Flag(help: "Show the tokens the text became (id and piece) on stderr.")
    var showTokens = false

    static let fileLimit = 1 << 30

    func validate() throws {
        if text != nil && textFile != nil { throw ValidationError("give --text or --text-file, not both") }
    }

    var isGiven: Bool { text != nil || textFile != nil }

    /// The text and where it came from, or nil when neither option was given.
    func load() throws -> (text: String, label: String)? {
        if let text { return (text, "--text") }
        guard let textFile else { return nil }
        return (try FileSystem.readText(textFile, limit: Self.fileLimit), textFile)
    }
}

/// A size on the command line: `5GB`, `500MB`, `2GiB`, `123` (bytes). Decimal units are powers of
/// 1000 and binary ones powers of 1024, as transformers and llama.cpp read them: llama-gguf-split's
/// `--split-max-size` takes only whole `M` (10⁶) and `G` (10⁹), which mean the same here.
struct ByteSize: ExpressibleByArgument {
    var bytes: Int

    static let units: [(suffix: String, factor: Int)] = [
        ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("TIB", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("K", 1_000), ("M", 1_000_000),
        ("G", 1_000_000_000), ("T", 1_000_000_000_000), ("B", 1),
    ]

    init?(argument: String) {
        let text = argument.uppercased()
        let unit = Self.units.first { text.hasSuffix($0.suffix) } ?? ("", 1)
        guard let number = Double(text.dropLast(unit.suffix.count)), number > 0, number * Double(unit.factor) < 9e18 else { return nil }
        bytes = Int(number * Double(unit.factor))
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// llama-quantize's choices, the same for `convert` and `quantize`: overrides of the preset's
/// per-tensor mix and an importance matrix (`docs/quantization-mixes.md`).
struct MixOptions: ParsableArguments {
    @Option(help: "Type of output.weight, whatever the mix says (e.g. q8_0).")
    var outputTensorType: String?

    @Option(help: "Type of token_embd.weight, whatever the mix says (e.g. q4_k).")
    var tokenEmbeddingType: String?

    @Option(
        help: ArgumentHelp(
            "PATTERN=TYPE: tensors whose GGUF name matches the regular expression get TYPE (repeatable; the first match wins).",
            valueName: "pattern=type"))
    var tensorType: [String] = []

    @Flag(help: "Every 2-D weight in the preset's own type: no mix rules (overrides still apply).")
    var pure = false

    @Option(
        help: "An importance matrix from llama-imatrix (.dat or .gguf): quantize weighing each column by it, as llama-quantize --imatrix.")
    var imatrix: String?

    /// The overrides as the library takes them.
    /// - Throws: `InputError` for an unknown type name (listing the valid ones) or a bad pattern.
    func overrides() throws -> TensorTypeOverrides {
        TensorTypeOverrides(
            outputType: try outputTensorType.map(TensorTypeOverrides.type(named:)),
            tokenEmbeddingType: try tokenEmbeddingType.map(TensorTypeOverrides.type(named:)), pure: pure,
            patterns: try tensorType.map(TensorTypeOverrides.pattern(parsing:)))
    }

    /// True when no option of the group was given.
    var isEmpty: Bool { outputTensorType == nil && tokenEmbeddingType == nil && tensorType.isEmpty && !pure && imatrix == nil }

    func importance() throws -> ImportanceMatrix? { try imatrix.map { try ImportanceMatrix.load(path: $0) } }

    /// What the written file holds, in the lines the commands print.
    static func describe(_ report: QuantizationReport) -> [String] {
        var lines = ["tensor types: \(report.typeSummary)"]
        // One line per (wanted → chosen) pair: a small model can have every matrix fall back.
        var groups: [(key: String, names: [String], rows: [Int], block: Int)] = []
        for planned in report.fallbacks {
            let fallback = planned.fallback!
            let key = "\(fallback.wanted.name) → \(planned.type.name)"
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].names.append(planned.name)
                if !groups[index].rows.contains(fallback.rowLength) { groups[index].rows.append(fallback.rowLength) }
            } else {
                groups.append((key, [planned.name], [fallback.rowLength], fallback.wanted.layout.elements))
            }
        }
        for group in groups {
            let names = group.names.prefix(3).joined(separator: ", ") + (group.names.count > 3 ? ", …" : "")
            let rows = group.rows.sorted().map(String.init).joined(separator: ", ")
            lines.append(
                "\(group.key) for \(group.names.count) tensor\(group.names.count == 1 ? "" : "s") (\(names)): rows of \(rows) are not whole blocks of \(group.block)"
            )
        }
        if !report.withoutImportance.isEmpty {
            let names = report.withoutImportance
            lines.append(
                "no importance weights for \(names.count) tensor\(names.count == 1 ? "" : "s") (quantized without, as llama.cpp does): "
                    + names.prefix(4).joined(separator: ", ") + (names.count > 4 ? ", …" : ""))
        }
        return lines
    }
}
