import ArgumentParser
import BinaryIO
import Foundation
import Verification

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model over a text, and KL divergence from a base model, as llama-perplexity computes them.",
        discussion: """
            The text is tokenized once with the model's tokenizer (beginning-of-text first) and cut into chunks of --ctx tokens; each chunk is evaluated from an empty cache with its first token replaced by beginning-of-text, and only the second half of each chunk is scored on its next token — llama.cpp's llama-perplexity method, so the numbers compare line by line. The text needs at least two chunks.

            To measure a quantization the way llama.cpp users do, store the base model's log-probabilities once with --save-logits (2 bytes per vocabulary entry per scored token: 257 KB for Llama 3, 64 KB for Llama 2; the file format is llama.cpp's --kl-divergence-base, so either tool reads the other's), then run each quantized file with --kl-base: KL divergence mean ± error and percentiles, top-token agreement, Δp and ln(PPL ratio). --kl-base-model runs the base model on the fly instead.

            Progress shows on a terminal; the result goes to stdout (--json for scripts). MODEL is a .gguf file, a Meta checkpoint directory or a Hugging Face directory.

            Examples:
              llamakit perplexity llama-3.1-8b-q4_k_m.gguf --text-file wiki.test.raw
              llamakit perplexity Meta-Llama-3.1-8B/ --text-file wiki.test.raw --save-logits base.logits
              llamakit perplexity llama-3.1-8b-q4_k_m.gguf --kl-base base.logits
              llamakit perplexity model-q8_0.gguf --kl-base-model model-f16.gguf --text-file wiki.test.raw --chunks 20 --json
            """
    )

    @Argument(help: "The model: a .gguf file or a checkpoint directory.")
    var model: String

    @OptionGroup var text: TextOptions

    @Option(name: .customLong("ctx"), help: "Tokens per chunk (default 512, or the --kl-base file's).")
    var context: Int?

    @Option(help: "Evaluate at most this many chunks (default: as many as the text holds).")
    var chunks: Int?

    @Option(help: "Store the model's log-probabilities in FILE, to compare quantizations against later with --kl-base.")
    var saveLogits: String?

    @Option(help: "Compare with a base model's log-probabilities stored by --save-logits (or llama-perplexity --kl-divergence-base).")
    var klBase: String?

    @Option(help: "Compare with this base model (a .gguf or checkpoint directory), run on the same chunks.")
    var klBaseModel: String?

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Skip the fsync of --save-logits before its rename.")
    var noSync = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if let context, context < 4 || context > 1 << 20 { throw ValidationError("--ctx must be 4…1048576") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if klBase != nil && klBaseModel != nil { throw ValidationError("give --kl-base or --kl-base-model, not both") }
        if saveLogits != nil && (klBase != nil || klBaseModel != nil) {
            throw ValidationError("--save-logits stores a base model's log-probabilities: run it without --kl-base/--kl-base-model")
        }
        if !text.isGiven && klBase == nil { throw ValidationError("give the text: --text-file FILE or --text TEXT") }
        if text.showTokens {
            throw ValidationError("--show-tokens is for verify and generate; see `llamakit tokenize` for a text's tokens")
        }
    }

    func run() throws {
        try reportingErrors {
            let given = try text.load()
            let terminal = Console.stderrIsTerminal
            let result = try Perplexity.run(
                Perplexity.Request(
                    model: model, text: given?.text, textLabel: given?.label ?? klBase ?? "", context: context, chunks: chunks,
                    threads: threading.threads, saveLogits: saveLogits, klBase: klBase, klBaseModel: klBaseModel, sync: !noSync,
                    memoryLimit: memory.limit)
            ) { progress in
                guard terminal else { return }
                let kld = progress.meanKLD.map { String(format: ", mean KLD %.6f", $0) } ?? ""
                Console.status(
                    String(
                        format: "chunk %d/%d: PPL %.4f%@, %.1f tokens/s", progress.chunk, progress.chunks, progress.perplexity, kld,
                        progress.tokensPerSecond))
            }
            if terminal { Console.status("") }
            if let saveLogits, !json { Console.error("saved the log-probabilities of \(result.scored) positions to \(saveLogits)") }
            print(json ? PerplexityReport.json(result).rendered() : PerplexityReport.text(result, model: model, textLabel: given?.label))
        }
    }
}
