import ArgumentParser
import BinaryIO
import Conversion
import Llama
import LlamaTokenizers
import ModelLoading
import TorchCheckpoint

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Meta checkpoint directory to a GGUF file that llama.cpp loads.",
        discussion: """
            Reads consolidated.NN.pth (shards merged on the fly), params.json and tokenizer.model — or a Hugging Face directory's safetensors (q/k rows put back in Meta's rotary order), config.json and tokenizer — and writes GGUF v3: llama.cpp's tensor names, every llama.* key, the tokenizer (Llama 3: gpt2 + llama-bpe with merges; Llama 2: llama with scores), rope_freqs for Llama 3.1-style RoPE scaling. The output appears only when complete; with --split-max-size or --split-max-tensors it is llama.cpp's split set NAME-00001-of-0000N.gguf … (NAME: the -o path without .gguf), whose first file appears last.

            --type takes llama.cpp's presets. Each tensor gets the type llama-quantize would give it from an F16 file of the same model (q4_k_m: most weights Q4_K, attn_v and some ffn_down Q6_K, output Q6_K; 1-D tensors F32), with the same bytes: one step from Meta's files to a Q4_K_M file. --pure, --output-tensor-type, --token-embedding-type and --tensor-type change the mix; --imatrix quantizes with an importance matrix.

            Examples:
              llamakit convert Meta-Llama-3.1-8B/ -o llama-3.1-8b-bf16.gguf
              llamakit convert Meta-Llama-3.1-8B/ -o llama-3.1-8b-q4_k_m.gguf --type q4_k_m
              llamakit convert Meta-Llama-3.1-8B/ -o llama-3.1-8b-q4_k_m.gguf --type q4_k_m --imatrix imatrix.gguf
              llamakit convert Meta-Llama-3.1-70B/ -o llama-3.1-70b-q8_0.gguf --type q8_0 --split-max-size 40G    (llama-3.1-70b-q8_0-00001-of-0000N.gguf …)
              llamakit convert Llama-3.2-1B-Instruct/ -o llama-3.2-1b-instruct-q8_0.gguf --type q8_0    (a Hugging Face directory)
            """
    )

    @Argument(help: "A Meta checkpoint directory, or a Hugging Face directory (config.json, safetensors, tokenizer).")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "The GGUF file to write, or with --to hf the directory.")
    var output: String

    @Option(help: "Output layout: gguf (one file) or hf (a Hugging Face directory: safetensors shards, config.json, tokenizer files).")
    var to: OutputLayout = .gguf

    @Option(help: "With --to hf: largest shard, e.g. 5GB (default), 500MB, 2GiB.")
    var maxShardSize: ByteSize?

    @Flag(
        name: [.customLong("instruct"), .customLong("chat")],
        help:
            "An instruct/chat model: the chat template is written, and for Llama 3 end-of-turn is the eos id so runtimes stop there. Default: a directory name containing Instruct or chat."
    )
    var instruct = false

    @Option(
        help: ArgumentHelp(
            "The chat template to write: llama3, llama2, none, or a Jinja template file (default: the model family's for instruct models, none otherwise).",
            valueName: "name|file"))
    var chatTemplate: String?

    @Option(
        help:
            "Preset: f32, f16, bf16, q8_0, q6_k, q5_k_m, q5_k_s, q5_1, q5_0, q4_k_m, q4_k_s, q4_1, q4_0, q3_k_l, q3_k_m, q3_k_s, q2_k (default: the checkpoint's own float type)."
    )
    var type: ConversionType?

    @Option(help: "Llama 3.1 RoPE scaling factor for rope_freqs (default: 32 for Llama 3.2 1B/3B, 8 otherwise).")
    var ropeScalingFactor: Double?

    @Option(help: "general.name in the file (default: the checkpoint directory's name).")
    var name: String?

    @Flag(help: "Convert without a tokenizer.model (the file will lack tokenizer metadata).")
    var noTokenizer = false

    @Flag(help: "Write only the metadata and the tokenizer, no tensors.")
    var vocabOnly = false

    @OptionGroup var mix: MixOptions

    @OptionGroup var splitting: SplitOptions

    @OptionGroup var writing: WriteOptions

    @OptionGroup var memory: MemoryOptions

    func validate() throws {
        if vocabOnly && noTokenizer { throw ValidationError("--vocab-only needs the tokenizer: drop --no-tokenizer") }
        if to == .hf {
            if let type, !HFExporter.types.contains(type) {
                throw ValidationError("--to hf writes bf16, f16 or f32 weights; \(type.rawValue) is a GGUF type (convert to GGUF for it)")
            }
            if vocabOnly || ropeScalingFactor != nil || !mix.isEmpty || splitting.isGiven {
                throw ValidationError(
                    "--vocab-only, --rope-scaling-factor, the mix and split options are for GGUF output, not --to hf (use --max-shard-size)"
                )
            }
        } else if maxShardSize != nil {
            throw ValidationError("--max-shard-size is for --to hf")
        }
    }

    func run() throws {
        try reportingErrors {
            let opened = try ModelFiles.openCheckpoint(
                self.checkpoint, requireTokenizer: !noTokenizer, hint: " (use --no-tokenizer to convert without one)")
            try ConversionMemory.plan(command: "convert", source: opened.source, rowSlices: to != .hf).check(limit: memory.limit)
            if to == .hf { return try exportHF(opened) }
            let checkpoint = opened
            let (config, tokenizer) = (opened.config, opened.tokenizer)
            let target = type ?? .lossless(for: checkpoint.source.info(named: "tok_embeddings.weight")?.dtype)
            let name =
                self.name ?? FileSystem.baseName(checkpoint.path.hasSuffix("/") ? String(checkpoint.path.dropLast()) : checkpoint.path)
            let (chat, chatNotes) = try chatSetup(opened)
            let terminal = Console.stderrIsTerminal
            let summary = try Converter.convert(
                source: checkpoint.source, config: config, tokenizer: tokenizer,
                options: .init(
                    type: target, overrides: try mix.overrides(), importance: try mix.importance(), name: name,
                    ropeScalingFactor: ropeScalingFactor, vocabOnly: vocabOnly, threads: writing.threads, sync: !writing.noSync,
                    chat: chat, split: splitting.limit),
                to: output
            ) { index, count, tensor in
                if terminal { Console.status("[\(index + 1)/\(count)] \(tensor)") }
                Failpoint.pauseAfterFirstTensor(index)
            }
            if terminal { Console.status("") }
            var notes = ["\(summary.tensorCount) tensors", target.rawValue, config.family.rawValue]
            if summary.droppedTiedOutput { notes.append("output.weight tied to token_embd (dropped)") }
            if let factor = summary.ropeScalingFactor { notes.append("rope_freqs with scaling factor \(factor)") }
            notes += chatNotes
            print(SplitOptions.wrote(summary.files) + ": " + notes.joined(separator: ", "))
            if summary.files.count > 1 { for file in summary.files { print("  " + file) } }
            for line in opened.layoutNotes { print("  " + line) }
            if !vocabOnly { for line in MixOptions.describe(summary.report) { print("  " + line) } }
        }
    }
}

extension ConvertCommand {
    enum OutputLayout: String, ExpressibleByArgument, CaseIterable {
        case gguf, hf
    }

    /// The chat template and instruct eos for this checkpoint, and how it was chosen (for the output).
    func chatSetup(_ opened: ModelFiles.Checkpoint) throws -> (setup: ChatSetup, notes: [String]) {
        let instruct = self.instruct || ChatSetup.looksInstruct(opened.path)
        let setup = try ChatSetup.resolve(
            choice: chatTemplate.map(ChatSetup.Choice.init), instruct: instruct, tokenizer: opened.tokenizer)
        var notes: [String] = []
        if instruct { notes.append(self.instruct ? "instruct model" : "instruct model (from the directory name)") }
        if let template = setup.template, opened.tokenizer != nil {
            let named = ChatTemplate.allCases.first { $0.text == template }
            notes.append("chat template " + (named?.rawValue ?? "from \(chatTemplate ?? "")"))
        }
        if instruct, opened.tokenizer is Llama3Tokenizer { notes.append("eos = <|eot_id|>") }
        return (setup, notes)
    }

    func exportHF(_ opened: ModelFiles.Checkpoint) throws {
        let target = type ?? .lossless(for: opened.source.info(named: "tok_embeddings.weight")?.dtype)
        let (chat, chatNotes) = try chatSetup(opened)
        let terminal = Console.stderrIsTerminal
        let summary = try HFExporter.export(
            source: opened.source, config: opened.config, tokenizer: opened.tokenizer,
            options: .init(
                type: target, maxShardBytes: maxShardSize?.bytes ?? 5_000_000_000, chat: chat, sentencePieceModel: opened.tokenizerPath,
                threads: writing.threads,
                sync: !writing.noSync),
            to: output
        ) { index, count, tensor in
            if terminal { Console.status("[\(index + 1)/\(count)] \(tensor)") }
        }
        if terminal { Console.status("") }
        var notes = ["\(summary.tensorCount) tensors", target.rawValue, opened.config.family.rawValue]
        notes.append(summary.shardCount == 1 ? "1 file" : "\(summary.shardCount) shards")
        if summary.tiedEmbedding { notes.append("tie_word_embeddings (lm_head is the embedding)") }
        notes += chatNotes
        print("wrote \(output): " + notes.joined(separator: ", "))
        print("  files: " + summary.files.joined(separator: ", "))
    }
}

/// `--type` takes llama.cpp's preset names (`q4_k_m`, …) as `ConversionType` spells them.
extension ConversionType: ExpressibleByArgument {}
