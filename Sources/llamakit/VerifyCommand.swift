import ArgumentParser
import BinaryIO
import Conversion
import Foundation
import Llama
import TensorCore
import TorchCheckpoint

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a model computes what Meta's model computes, against stored logits or the original checkpoint.",
        discussion: """
            Runs LlamaKit's forward pass (Meta's semantics, f32 compute) over MODEL — a .gguf file or a checkpoint directory, in any weight type — on the reference's tokens, and compares its logits position by position: max and mean |Δlogit|, KL divergence KL(reference ‖ model) per position (mean, p99, max), top-1 agreement, and the perplexity of both on the reference's own next tokens.

            The gate follows the model's weight type: f32/f16/bf16 must match exactly (max |Δ| ≤ 1e-4 of the reference's logit range, top-1 100 %); q8_0 needs mean KLD ≤ 0.002; q4_0 mean KLD ≤ 0.1. Flags override each threshold.

            REF is a .pth holding {"tokens": LongTensor[T], "logits": FloatTensor[T, V]} (read by LlamaKit's own safe reader), or a .npy of float32 logits [T, V] with the tokens from --tokens, --tokens-file, or a tokens.npy beside it. With --against, the original checkpoint is run too and no stored logits are needed.

            Exit status: 0 PASS, 1 FAIL, 2 bad usage or bad input.

            Examples:
              llamakit verify llama-3.1-8b-q8_0.gguf --reference reference.pth
              llamakit verify model.gguf --reference logits.npy --tokens-file tokens.json --json
              llamakit verify llama-3.1-8b-q8_0.gguf --against Meta-Llama-3.1-8B/ --tokens 128000,791,6864
            """
    )

    @Argument(help: "The model to check: a .gguf file or a Meta checkpoint directory.")
    var model: String

    @Option(help: "Reference logits: a .pth with tokens and logits, or a .npy of logits [T, V].")
    var reference: String?

    @Option(help: "The tokens, comma-separated (for a .npy reference or --against).")
    var tokens: String?

    @Option(help: "A JSON file holding the tokens as an array of integers.")
    var tokensFile: String?

    @Option(help: "Run this original checkpoint (directory or .gguf) as the reference instead of stored logits.")
    var against: String?

    @Option(help: "Gate: largest max |Δlogit| as a fraction of the reference's logit range.")
    var maxRelativeDiff: Double?

    @Option(help: "Gate: smallest top-1 agreement, 0…1.")
    var minTop1: Double?

    @Option(help: "Gate: largest mean KL divergence (nats per position).")
    var maxMeanKld: Double?

    @Option(help: "Worker threads for the matrix products.")
    var threads: Int = 1

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if reference == nil && against == nil { throw ValidationError("give --reference REF or --against CHECKPOINT_DIR") }
        if tokens != nil && tokensFile != nil { throw ValidationError("give --tokens or --tokens-file, not both") }
        if threads < 1 || threads > 256 { throw ValidationError("--threads must be 1…256") }
    }

    func run() throws {
        var passed = false
        try reportingErrors {
            let given = try givenTokens()
            var referenceTokens: [Int]
            var referenceLogits: [Float]? = nil
            var referenceVocab: Int? = nil
            var referenceLabel = against ?? ""
            if let reference {
                let loaded = try ReferenceLogits.load(reference, tokens: given)
                (referenceTokens, referenceLogits, referenceVocab) = (loaded.tokens, loaded.logits, loaded.vocab)
                referenceLabel = reference
            } else {
                guard let given else { throw InputError(.missing, "--against needs the tokens: give --tokens or --tokens-file") }
                referenceTokens = given
            }
            guard !referenceTokens.isEmpty else { throw InputError(.missing, "the reference has no positions", file: reference) }
            let opened = try ModelFiles.open(model, maxSequenceLength: referenceTokens.count, threads: threads)
            let vocab = opened.model.config.vocabSize
            if let referenceVocab, referenceVocab != vocab {
                throw InputError(
                    .malformed,
                    "the reference has \(referenceVocab) logits per position, the model's vocabulary \(vocab)", file: reference)
            }
            let terminal = Console.stderrIsTerminal
            if terminal { Console.status("running \(model) on \(referenceTokens.count) positions…") }
            let logits = try opened.model.forward(referenceTokens)
            if referenceLogits == nil, let against {
                if terminal { Console.status("running \(against) on \(referenceTokens.count) positions…") }
                let original = try ModelFiles.open(against, maxSequenceLength: referenceTokens.count, threads: threads)
                guard original.model.config.vocabSize == vocab else {
                    throw InputError(
                        .mismatch, "vocabulary \(original.model.config.vocabSize) differs from the model's \(vocab)", file: against)
                }
                referenceLogits = try original.model.forward(referenceTokens)
            }
            if terminal { Console.status("") }
            let comparison = Comparison(reference: referenceLogits!, model: logits, tokens: referenceTokens, vocab: vocab)
            var gate = VerificationGate.forWeights(opened.model.weightType.rawValue)
            if maxRelativeDiff != nil || minTop1 != nil || maxMeanKld != nil {
                gate.name = "custom"
                if let maxRelativeDiff { gate.maxRelativeDiff = maxRelativeDiff }
                if let minTop1 { gate.minTop1 = minTop1 }
                if let maxMeanKld { gate.maxMeanKLD = maxMeanKld }
            }
            let failures = gate.failures(comparison)
            passed = failures.isEmpty
            if json {
                print(Self.json(comparison, gate: gate, passed: passed).rendered())
            } else {
                print(
                    Self.report(
                        comparison, gate: gate, failures: failures,
                        model: "\(model) (\(opened.format), \(opened.model.weightType.rawValue) weights)",
                        reference: "\(referenceLabel) (\(referenceTokens.count) positions × \(vocab) logits)"))
            }
        }
        if !passed { throw ExitCode(1) }
    }

    private func givenTokens() throws -> [Int]? {
        if let tokens {
            return try tokens.split(separator: ",").map {
                guard let id = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw InputError(.malformed, "--tokens: '\($0)' is not an integer")
                }
                return id
            }
        }
        if let tokensFile {
            let bytes = try FileSystem.read(tokensFile, limit: 64 << 20)
            guard let ids = try? JSONDecoder().decode([Int].self, from: Data(bytes)) else {
                throw InputError(.malformed, "expected a JSON array of integers", file: tokensFile)
            }
            return ids
        }
        return nil
    }

    static func json(_ c: Comparison, gate: VerificationGate, passed: Bool) -> JSONOutput {
        var gateFields: [(String, JSONOutput)] = [("name", .string(gate.name))]
        if let v = gate.maxRelativeDiff { gateFields.append(("max_relative_diff", .double(v))) }
        if let v = gate.minTop1 { gateFields.append(("min_top1", .double(v))) }
        if let v = gate.maxMeanKLD { gateFields.append(("max_mean_kld", .double(v))) }
        return .object([
            ("pass", .bool(passed)), ("positions", .int(c.positions)), ("max_abs_diff", .double(c.maxAbsDiff)),
            ("mean_abs_diff", .double(c.meanAbsDiff)), ("mean_kld", .double(c.meanKLD)), ("p99_kld", .double(c.p99KLD)),
            ("max_kld", .double(c.maxKLD)), ("top1_agreement", .double(c.top1Agreement)),
            ("ppl_reference", .optional(c.pplReference.map { .double($0) })), ("ppl_model", .optional(c.pplModel.map { .double($0) })),
            ("gate", .object(gateFields)),
        ])
    }

    static func report(_ c: Comparison, gate: VerificationGate, failures: [String], model: String, reference: String) -> String {
        func g(_ v: Double) -> String { String(format: "%.4g", v) }
        var conditions: [String] = []
        if let v = gate.maxRelativeDiff { conditions.append("max |Δ| ≤ \(g(v)) × range") }
        if let v = gate.minTop1 { conditions.append("top-1 ≥ \(g(v * 100)) %") }
        if let v = gate.maxMeanKLD { conditions.append("mean KLD ≤ \(g(v))") }
        let rows: [[String]] = [
            ["model", model], ["reference", reference], ["positions", "\(c.positions)"],
            ["max |Δlogit|", "\(g(c.maxAbsDiff))  (\(g(c.relativeMaxDiff)) of the reference's logit range \(g(c.referenceRange)))"],
            ["mean |Δlogit|", g(c.meanAbsDiff)], ["KLD mean / p99 / max", "\(g(c.meanKLD)) / \(g(c.p99KLD)) / \(g(c.maxKLD))"],
            ["top-1 agreement", String(format: "%.2f %%", c.top1Agreement * 100)],
            [
                "perplexity", "reference \(c.pplReference.map(g) ?? "–"), model \(c.pplModel.map(g) ?? "–") (next tokens of the reference)",
            ],
            ["gate (\(gate.name))", conditions.joined(separator: ", ")],
        ]
        let verdict = failures.isEmpty ? "PASS" : "FAIL: " + failures.joined(separator: "; ")
        return Formatting.columns(rows) + "\n" + verdict
    }
}

/// Reference logits from a `.pth` (`{"tokens", "logits"}`) or a `.npy` (+ tokens), checked.
enum ReferenceLogits {
    static let maxPositions = 1 << 16

    static func load(_ path: String, tokens given: [Int]?) throws -> (tokens: [Int], logits: [Float], vocab: Int) {
        var tokens: [Int]
        var logits: [Float]
        var shape: [Int]
        if path.hasSuffix(".npy") {
            let array = try NumpyArray.load(path: path)
            guard let values = array.floats() else {
                throw InputError(.mismatch, "expected float logits, found \(array.dtype.rawValue)", file: path)
            }
            (logits, shape) = (values, array.shape)
            if let given {
                tokens = given
            } else {
                let beside = FileSystem.join(FileSystem.parent(of: path), "tokens.npy")
                guard FileSystem.kind(of: beside) == .file else {
                    throw InputError(
                        .malformed,
                        "a .npy reference needs the tokens: give --tokens or --tokens-file (no tokens.npy beside it)", file: path)
                }
                let ids = try NumpyArray.load(path: beside)
                guard let values = ids.integers(), ids.shape.count == 1 else {
                    throw InputError(.mismatch, "expected int64 tokens [T]", file: beside)
                }
                tokens = values
            }
        } else {
            let file = try PthFile(path: path)
            guard let logitsInfo = file.info(named: "logits"), let tokensInfo = file.info(named: "tokens") else {
                throw InputError(.mismatch, "expected a dict with 'tokens' and 'logits' tensors", file: path)
            }
            guard logitsInfo.dtype == .f32 else {
                throw InputError(.mismatch, "expected float32, found \(logitsInfo.dtype.torchName)", at: .tensor("logits"), file: path)
            }
            guard tokensInfo.dtype == .i64 || tokensInfo.dtype == .i32, tokensInfo.shape.count == 1 else {
                throw InputError(
                    .mismatch,
                    "expected a 1-D int64 tensor, found \(tokensInfo.dtype.torchName) \(tokensInfo.shape)", at: .tensor("tokens"),
                    file: path)
            }
            shape = logitsInfo.shape
            logits = try file.withBytes(of: "logits") { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            let stored = try file.withBytes(of: "tokens") { raw in
                tokensInfo.dtype == .i64
                    ? (0..<(raw.count / 8)).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                    : (0..<(raw.count / 4)).map { Int(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            }
            if let given, given != stored {
                throw InputError(.mismatch, "--tokens differ from the tokens stored in the reference", file: path)
            }
            tokens = stored
        }
        guard shape.count == 2 else { throw InputError(.mismatch, "expected logits of shape [T, V], found \(shape)", file: path) }
        guard shape[0] == tokens.count else {
            throw InputError(.mismatch, "the reference has \(shape[0]) positions of logits but \(tokens.count) tokens", file: path)
        }
        guard shape[0] <= maxPositions else {
            throw InputError(.overLimit, "\(shape[0]) positions exceed the cap of \(maxPositions)", file: path)
        }
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw InputError(
                .outOfRange,
                "the reference holds \(logits[bad]) at position \(bad / max(shape[1], 1)), vocabulary entry \(bad % max(shape[1], 1)): logits must be finite",
                file: path)
        }
        return (tokens, logits, shape[1])
    }
}
