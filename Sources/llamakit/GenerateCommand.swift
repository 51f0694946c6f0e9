import ArgumentParser
import BinaryIO
import Foundation
import Llama
import LlamaTokenizers
import ModelLoading

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with LlamaKit's reference forward pass.",
        discussion: """
            MODEL is a .gguf file (the tokenizer comes from its metadata) or a Meta checkpoint directory (its tokenizer.model). With --chat, the dialog is encoded exactly as Meta's chat format does (Llama 3 headers and end-of-turn, or Llama 2's [INST]/<<SYS>>), answers stop at end-of-turn, and the KV cache is kept across turns. Otherwise the prompt gets the beginning-of-text token; generated text streams to stdout as it comes and stops after -n tokens or at end-of-text / end-of-turn. Speeds go to stderr.

            Temperature 0 (the default) is greedy and deterministic; otherwise tokens are sampled from the top-p nucleus with a seeded generator (--seed makes a run repeatable).

            Examples:
              llamakit generate llama-3.1-8b-q8_0.gguf --prompt "The capital of France is" -n 16
              llamakit generate Meta-Llama-3.1-8B/ --prompt-tokens 128000,791,6864 --json
              llamakit generate model.gguf --prompt "Once upon a time" --temperature 0.8 --top-p 0.9 --seed 7
              llamakit generate model.gguf --text-file prompt.txt --show-tokens -n 64
              llamakit generate llama-3.1-8b-instruct-q4_k_m.gguf --chat --system "Answer briefly." --message "Name a colour." --message "Another?"
              llamakit generate llama-3.1-8b-instruct-q4_k_m.gguf --chat        (a conversation on the terminal: Ctrl-C stops an answer, Ctrl-D ends)
            """
    )

    @Argument(help: "A .gguf file or a Meta checkpoint directory.")
    var model: String

    @Option(help: "The prompt text (encoded with the model's tokenizer, after a beginning-of-text token).")
    var prompt: String?

    @Option(help: "The prompt as token ids, comma-separated (used as given, no BOS added).")
    var promptTokens: TokenIDList?

    @OptionGroup var text: TextOptions

    @Option(name: .short, help: "The most tokens to generate.")
    var n: Int = 32

    @Option(help: "0 = greedy; higher = more random.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass.")
    var topP: Float = 0.9

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @OptionGroup var chatting: ChatOptions

    @OptionGroup var threading: ThreadOptions

    @OptionGroup var memory: MemoryOptions

    @Flag(help: "Print {ids, text, prefill_tokens_per_s, decode_tokens_per_s} as JSON instead of streaming.")
    var json = false

    func validate() throws {
        if chatting.chat {
            if prompt != nil || promptTokens != nil || text.isGiven {
                throw ValidationError("--chat takes --system, --message and --dialog (or a conversation on the terminal), not --prompt")
            }
        } else if chatting.isGiven {
            throw ValidationError("--system, --message, --dialog and --ctx are for --chat")
        } else if [prompt != nil, promptTokens != nil, text.isGiven].filter({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --prompt (or --text, --text-file) and --prompt-tokens")
        }
        if n < 0 || n > 1 << 20 { throw ValidationError("-n must be 0…1048576") }
        if !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature must be ≥ 0") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        if chatting.chat { return try runChat() }
        try reportingErrors {
            // The prompt's length is known before the model is built only for ids; text needs the tokenizer first.
            var ids: [Int] = []
            if let promptTokens { ids = promptTokens.ids }
            let prompt = try self.prompt ?? text.load()?.text
            let capacity = max(ids.count, (prompt?.utf8.count ?? 0) + 2) + n
            let opened = try openModel(capacity: capacity, promptPositions: capacity - n)
            let tokenizer = opened.tokenizer
            if let prompt {
                guard let tokenizer else { throw InputError(.missing, "the model has no tokenizer: use --prompt-tokens", file: model) }
                ids = tokenizer.encode(prompt, bos: true, eos: false, allowSpecial: false)
            }
            if text.showTokens { Console.error(Formatting.tokens(ids, tokenizer)) }
            let model = opened.model
            if !json, let prompt { Console.out(prompt) }
            var sampler = Sampler(temperature: temperature, topP: topP, seed: seed)
            var stream = tokenizer.map { StreamingDecoder($0) }
            let generation = try model.generate(
                prompt: ids, maxTokens: n, sampler: &sampler, stopIDs: tokenizer?.stopIDs ?? [],
                onToken: { id in
                    guard !json else { return }
                    Console.out(try stream?.append(id) ?? "\(id) ")
                })
            let text = try tokenizer?.decode(generation.ids) ?? ""
            let (prefillRate, decodeRate) = (generation.prefillTokensPerSecond, generation.decodeTokensPerSecond)
            if json {
                print(
                    JSONOutput.object([
                        ("ids", .array(generation.ids.map { .int($0) })), ("text", .string(text)),
                        ("prefill_tokens_per_s", .double(prefillRate)), ("decode_tokens_per_s", .double(decodeRate)),
                    ]).rendered())
            } else {
                Console.out(try stream?.finish() ?? "")
                Console.out("\n")
                Console.error(
                    String(
                        format: "prefill %d tokens at %.1f tokens/s, decode %d tokens at %.1f tokens/s (%@ weights, %d thread%@)",
                        ids.count,
                        prefillRate, generation.decodeSteps, decodeRate, model.weightType.rawValue, threading.threads,
                        threading.threads == 1 ? "" : "s"))
            }
        }
    }

    /// The model over `capacity` positions, after checking its memory plan against
    /// `--max-memory`, and a line on stderr when its weights come from several shards or had to be copied.
    func openModel(capacity: Int, promptPositions: Int) throws -> ModelFiles.Opened {
        let prepared = try ModelFiles.prepare(model)
        try prepared.generationPlan(capacity: capacity, promptPositions: promptPositions).check(limit: memory.limit)
        let opened = try prepared.model(maxSequenceLength: capacity, threads: threading.threads)
        if let line = opened.model.weightResidency.summary(of: model) { Console.error(line) }
        return opened
    }
}
