import ArgumentParser
import BinaryIO
import Conversion
import FoundationEssentials
import Llama
import LlamaTokenizers
import ModelLoading

#if canImport(Glibc)
    import Glibc
#endif

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text to token ids (or decode ids to text) exactly as Meta's tokenizer does.",
        discussion: """
            Encoding follows Meta's Tokenizer.encode: text that looks like a special token (<|eot_id|>) is ordinary text unless --allow-special is given; no BOS/EOS unless asked. Llama 3 special-token names follow the release found in params.json beside the tokenizer (3.0, 3.1 or 3.2), or --llama3-release.

            Examples:
              llamakit tokenize --tokenizer Meta-Llama-3.1-8B/tokenizer.model --bos "Hello world"
              echo "Hello world" | llamakit tokenize --tokenizer tokenizer.model - --json
              llamakit tokenize --tokenizer tokenizer.model --decode 9906 1917
              llamakit tokenize --tokenizer tokenizer.model --jsonl < strings.jsonl > ids.jsonl
              llamakit tokenize --tokenizer tokenizer.model --count < book.txt
            """
    )

    @Option(help: "The tokenizer.model file (Llama 3 tiktoken ranks).")
    var tokenizer: String

    @Flag(help: "Prepend the beginning-of-text id.")
    var bos = false

    @Flag(help: "Append the end-of-text id.")
    var eos = false

    @Flag(help: "Turn special-token text such as <|eot_id|> into its id.")
    var allowSpecial = false

    @Flag(help: "Decode: the arguments (or --jsonl lines) are token ids.")
    var decode = false

    @Flag(help: "Print {\"ids\": [...], \"pieces\": [...]} instead of a table.")
    var json = false

    @Flag(
        help: "Batch mode: one JSON string per stdin line in, one JSON array of ids per line out (with --decode: arrays in, strings out).")
    var jsonl = false

    @Flag(help: "Print only the number of tokens of stdin.")
    var count = false

    @Option(help: "Llama 3 special-token names: 3.0, 3.1 or 3.2 (default: from params.json beside the tokenizer, else 3.2).")
    var llama3Release: Llama3Tokenizer.SpecialTokenSet?

    @Argument(help: "Text to encode ('-' reads stdin), or ids with --decode.")
    var inputs: [String] = []

    func validate() throws {
        if jsonl && (count || json || !inputs.isEmpty) {
            throw ValidationError("--jsonl reads stdin and writes JSON lines: no --count, --json or arguments with it")
        }
        if count && (decode || !inputs.isEmpty) {
            throw ValidationError("--count counts the tokens of stdin: no --decode or arguments with it")
        }
        if !jsonl && !count && inputs.isEmpty { throw ValidationError("give the text to encode (or '-' for stdin), or ids with --decode") }
    }

    func run() throws {
        try reportingErrors {
            let model = try TokenizerLoader.load(path: tokenizer, specialTokens: llama3Release ?? ModelFiles.release(besides: tokenizer))
            if jsonl {
                try runJSONLines(model)
            } else if count {
                print(model.encode(Self.readStandardInput(), bos: bos, eos: eos, allowSpecial: allowSpecial).count)
            } else if decode {
                guard let ids = TokenIDList(argument: inputs.joined(separator: " ")) else {
                    throw InputError(
                        .malformed, "expected token ids separated by commas or spaces, found '\(inputs.joined(separator: " "))'")
                }
                print(try model.decode(ids.ids))
            } else {
                let text = inputs == ["-"] ? Self.readStandardInput() : inputs.joined(separator: " ")
                let ids = model.encode(text, bos: bos, eos: eos, allowSpecial: allowSpecial)
                let pieces = try ids.map { Self.display(try model.pieceBytes($0)) }
                if json {
                    print(
                        JSONOutput.object([("ids", .array(ids.map { .int($0) })), ("pieces", .array(pieces.map { .string($0) }))])
                            .rendered())
                } else {
                    print(
                        Formatting.table(
                            ["id", "piece"], zip(ids, pieces).map { ["\($0)", JSONOutput.string($1).rendered()] }, rightAligned: [0]))
                    print("\(ids.count) tokens")
                }
            }
        }
    }

    private func runJSONLines(_ model: any Tokenizer) throws {
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.isEmpty { continue }
            do {
                if decode {
                    let ids = try JSONDecoder().decode([Int].self, from: Data(line.utf8))
                    print(JSONOutput.string(try model.decode(ids)).rendered())
                } else {
                    let text = try JSONDecoder().decode(String.self, from: Data(line.utf8))
                    let ids = model.encode(text, bos: bos, eos: eos, allowSpecial: allowSpecial)
                    print(JSONOutput.array(ids.map { .int($0) }).rendered())
                }
            } catch let error as InputError {
                throw InputError(.malformed, "stdin line \(lineNumber): \(error.message)")
            } catch {
                throw InputError(.mismatch, "stdin line \(lineNumber): expected a JSON \(decode ? "array of ids" : "string")")
            }
        }
    }

    /// The Llama 3 release from params.json beside the tokenizer, 3.2 when there is none.
    static func readStandardInput() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if got <= 0 { break }
            bytes += buffer[0..<got]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A piece as text when its bytes are valid UTF-8, else as `\xNN` escapes.
    static func display(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return bytes.map { "\\x" + ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
    }
}

extension Llama3Tokenizer.SpecialTokenSet: ExpressibleByArgument {}
