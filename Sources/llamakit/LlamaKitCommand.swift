import ArgumentParser
import BinaryIO

@main
struct LlamaKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llamakit",
        abstract: "Inspect, convert and verify Meta Llama checkpoints — safely, without Python.",
        discussion: """
            Point llamakit at a Meta checkpoint directory (consolidated.NN.pth, params.json, tokenizer.model) or at one .pth file. No pickle code is ever executed: the checkpoint is read by an allowlist machine that only describes tensors.

            Exit status: 0 success, 1 a failed verification or models that differ, 2 bad usage or bad input (one message on stderr).
            """,
        subcommands: [
            InspectCommand.self, ConvertCommand.self, QuantizeCommand.self, VerifyCommand.self, PerplexityCommand.self, DiffCommand.self,
            GenerateCommand.self,
            TokenizeCommand.self, EditCommand.self,
        ]
    )

    /// ArgumentParser's own entry point, except that bad usage exits 2 (its default is 64),
    /// as every LlamaKit error does.
    static func main() {
        PeakMemoryReport.installIfAsked()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                Console.error(fullMessage(for: error))
                Console.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Runs `body`; a data error becomes one line on stderr and exit status 2.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as InputError {
        Console.error("error: \(error)")
        throw ExitCode(2)
    }
}
