import ArgumentParser
import BinaryIO
import Foundation
import Llama
import TensorCore
import TorchCheckpoint
import Verification

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a model computes what Meta's model computes, against stored logits or the original checkpoint.",
        discussion: """
            Runs LlamaKit's forward pass (Meta's semantics, f32 compute) over MODEL — a .gguf file or a checkpoint directory, in any weight type — on the reference's tokens, and compares its logits position by position: max and mean |Δlogit|, KL divergence KL(reference ‖ model) per position (mean, p99, max), top-1 agreement, and the perplexity of both on the reference's own next tokens.

            The gate follows the model's weight type: f32/f16/bf16 must match exactly (max |Δ| ≤ 1e-4 of the reference's logit range, top-1 100 %); q8_0 needs mean KLD ≤ 0.002; q4_0 mean KLD ≤ 0.1. Flags override each threshold.

            REF is a .pth holding {"tokens": LongTensor[T], "logits": FloatTensor[T, V]} (read by LlamaKit's own safe reader), or a .npy of float32 logits [T, V] with the tokens from --tokens, --tokens-file, or a tokens.npy beside it. With --against, the original checkpoint is run too and no stored logits are needed; the positions are then --tokens, or a --text / --text-file tokenized with the model's tokenizer (beginning-of-text first, as Meta's reference does).

            Exit status: 0 PASS, 1 FAIL, 2 bad usage or bad input.

            Examples:
              llamakit verify llama-3.1-8b-q8_0.gguf --reference reference.pth
              llamakit verify model.gguf --reference logits.npy --tokens-file tokens.json --json
              llamakit verify llama-3.1-8b-q8_0.gguf --against Meta-Llama-3.1-8B/ --tokens 128000,791,6864
              llamakit verify llama-3.1-8b-q4_k_m.gguf --against Meta-Llama-3.1-8B/ --text "The capital of France is" --show-tokens
            """
    )

    @Argument(help: "The model to check: a .gguf file or a Meta checkpoint directory.")
    var model: String

    @Option(help: "Reference logits: a .pth with tokens and logits, or a .npy of logits [T, V].")
    var reference: String?

    @Option(help: ArgumentHelp("The tokens, comma-separated (for a .npy reference or --against).", valueName: "ids"))
    var tokens: TokenIDList?

    @Option(help: "A JSON file holding the tokens as an array of integers.")
    var tokensFile: String?

    @OptionGroup var text: TextOptions

    @Option(help: "Run this original checkpoint (directory or .gguf) as the reference instead of stored logits.")
    var against: String?

    @Option(help: "Gate: largest max |Δlogit| as a fraction of the reference's logit range.")
    var maxRelativeDiff: Double?

    @Option(help: "Gate: smallest top-1 agreement, 0…1.")
    var minTop1: Double?

    @Option(help: "Gate: largest mean KL divergence (nats per position).")
    var maxMeanKld: Double?

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if reference == nil && against == nil { throw ValidationError("give --reference REF or --against CHECKPOINT_DIR") }
        if [tokens != nil, tokensFile != nil, text.isGiven].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --tokens, --tokens-file, --text and --text-file")
        }
        if text.isGiven && reference != nil {
            throw ValidationError("--text runs both models on a text: use it with --against (a stored reference has its own tokens)")
        }
    }

    func run() throws {
        var passed = false
        try reportingErrors {
            let terminal = Console.stderrIsTerminal
            let outcome = try Verifier.run(
                Verifier.Request(
                    model: model, reference: reference, against: against, tokens: try givenTokens(), text: try text.load()?.text,
                    threads: threading.threads, memoryLimit: memory.limit)
            ) { if terminal { Console.status($0) } }
            for line in [outcome.residency.summary(of: model), outcome.againstResidency?.summary(of: against ?? "")] {
                if let line { Console.error(line) }
            }
            if text.showTokens { Console.error(Formatting.tokens(outcome.tokens, outcome.tokenizer)) }
            let c = outcome.comparison
            let gate = outcome.gate.overriding(maxRelativeDiff: maxRelativeDiff, minTop1: minTop1, maxMeanKLD: maxMeanKld)
            let failures = gate.failures(c)
            passed = failures.isEmpty
            if json {
                print(Self.json(c, gate: gate, passed: passed).rendered())
            } else {
                print(
                    Self.report(
                        c, gate: gate, failures: failures, model: "\(model) (\(outcome.format), \(outcome.weightType) weights)",
                        reference: "\(outcome.referenceLabel) (\(c.positions) positions × \(outcome.vocab) logits)"))
            }
        }
        if !passed { throw ExitCode(1) }
    }

    private func givenTokens() throws -> [Int]? {
        if let tokens { return tokens.ids }
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
            ("relative_max_diff", .double(c.relativeMaxDiff)),
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
