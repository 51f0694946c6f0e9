import ArgumentParser
import BinaryIO
import Conversion
import GGUF

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Rewrite a GGUF file with llama.cpp's quantization presets (q4_k_m, q6_k, q8_0, …).",
        discussion: """
            Each tensor gets the type llama-quantize gives it for the preset (the same mix rules, fallbacks and general.file_type), and every block is byte-identical to ggml's reference quantizers. Metadata is carried over; 1-D tensors stay F32. A file that is already quantized is refused unless --allow-requantize (quality is lost twice). The output appears only when complete; --split-max-size or --split-max-tensors writes llama.cpp's split set NAME-00001-of-0000N.gguf … (NAME: the output path without .gguf). A split set is read given its first file.

            Examples:
              llamakit quantize llama-3.1-8b-bf16.gguf llama-3.1-8b-q4_k_m.gguf --type q4_k_m
              llamakit quantize llama-3.1-8b-bf16.gguf llama-3.1-8b-q4_k_m.gguf --type q4_k_m --imatrix imatrix.gguf
              llamakit quantize llama-3.1-8b-bf16.gguf llama-3.1-8b-q4_0.gguf --type q4_0 --pure
            """
    )

    @Argument(help: "The GGUF file to read (a split set: its first file).")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Option(
        help: "Preset: f32, f16, bf16, q8_0, q6_k, q5_k_m, q5_k_s, q5_1, q5_0, q4_k_m, q4_k_s, q4_1, q4_0, q3_k_l, q3_k_m, q3_k_s, q2_k.")
    var type: ConversionType

    @OptionGroup var mix: MixOptions

    @Flag(help: "Quantize tensors that are already quantized (llama-quantize's --allow-requantize): quality is lost twice.")
    var allowRequantize = false

    @OptionGroup var splitting: SplitOptions

    @OptionGroup var writing: WriteOptions

    @OptionGroup var memory: MemoryOptions

    func validate() throws {
        if input == output { throw ValidationError("the output must be a different file from the input") }
    }

    func run() throws {
        try reportingErrors {
            let file = try GGUFSplitSet(path: input)
            try ConversionMemory.plan(command: "quantize", source: file).check(limit: memory.limit)
            let terminal = Console.stderrIsTerminal
            let request = QuantizationRequest(preset: type, overrides: try mix.overrides(), importance: try mix.importance())
            let (report, files) = try Requantizer.run(
                input: file, request: request, allowRequantize: allowRequantize, to: output, split: splitting.limit,
                threads: writing.threads, sync: !writing.noSync
            ) { index, count, name in
                if terminal { Console.status("[\(index + 1)/\(count)] \(name)") }
                Failpoint.pauseAfterFirstTensor(index)
            }
            if terminal { Console.status("") }
            print(SplitOptions.wrote(files) + ": \(file.tensors.count) tensors, \(type.rawValue)")
            if files.count > 1 { for file in files { print("  " + file) } }
            for line in MixOptions.describe(report) { print("  " + line) }
        }
    }
}
