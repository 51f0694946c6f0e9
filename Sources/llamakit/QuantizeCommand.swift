import ArgumentParser
import BinaryIO
import Conversion
import GGUF

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Rewrite a GGUF file in another tensor type (q8_0, q4_0, f16, bf16, f32).",
        discussion: """
            Metadata is carried over; general.file_type and general.quantization_version are set. 1-D tensors stay F32. Q8_0 and Q4_0 blocks are byte-identical to ggml's reference quantizers. The output appears only when complete.

            Example:
              llamakit quantize llama-3.1-8b-bf16.gguf llama-3.1-8b-q8_0.gguf --type q8_0
            """
    )

    @Argument(help: "The GGUF file to read.")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Option(help: "Tensor type: q8_0, q4_0, f16, bf16 or f32.")
    var type: ConversionType

    @OptionGroup var writing: WriteOptions

    func validate() throws {
        if input == output { throw ValidationError("the output must be a different file from the input") }
    }

    func run() throws {
        try reportingErrors {
            let file = try GGUFFile(path: input)
            let terminal = Console.stderrIsTerminal
            try Requantizer.run(input: file, type: type, to: output, threads: writing.threads, sync: !writing.noSync) {
                index, count, name in
                if terminal { Console.status("[\(index + 1)/\(count)] \(name)") }
                Failpoint.pauseAfterFirstTensor(index)
            }
            if terminal { Console.status("") }
            print("wrote \(output): \(file.tensors.count) tensors, \(type.rawValue)")
        }
    }
}
