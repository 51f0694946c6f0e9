import ArgumentParser
import BinaryIO
import Foundation
import Llama
import LlamaTokenizers
import ModelLoading

/// `generate --chat`'s options.
struct ChatOptions: ParsableArguments {
    @Flag(help: "Chat in the model's format: --message turns, or a conversation on the terminal.")
    var chat = false

    @Option(help: "With --chat: the system message.")
    var system: String?

    @Option(help: "With --chat: a user message; repeat it for a scripted dialog (each gets an answer).")
    var message: [String] = []

    @Option(
        help: "With --chat: a JSON file of earlier messages, [{\"role\": \"system\"|\"user\"|\"assistant\"|\"tool\", \"content\": \"…\"}].")
    var dialog: String?

    @Option(name: .customLong("ctx"), help: "With --chat: the context (KV cache) in tokens (default: 4096, or the model's if smaller).")
    var context: Int?

    var isGiven: Bool { system != nil || !message.isEmpty || dialog != nil || context != nil }
}

extension GenerateCommand {
    func runChat() throws {
        try reportingErrors {
            let history = try chatHistory()
            let context = chatting.context ?? 4096
            guard (16...(1 << 20)).contains(context) else { throw InputError(.outOfRange, "--ctx must be 16…1048576") }
            // The model is built before it is known to have a tokenizer: its cache is only
            // allocated on first use, and opening reads the tokenizer once.
            let opened = try openModel(capacity: context, promptPositions: context)
            guard let tokenizer = opened.tokenizer else {
                throw InputError(.missing, "the model has no tokenizer to chat with", file: model)
            }
            let session = ChatSession(model: opened.model, tokenizer: tokenizer, history: history)
            var sampler = Sampler(temperature: temperature, topP: topP, seed: seed)
            var turns: [ChatSession.Turn] = []
            let interactive = chatting.message.isEmpty && Console.stdinIsTerminal
            if interactive { Console.watchInterrupts() }
            // A --dialog that ends with a user message is answered first.
            if history.last?.role == .user || history.last?.role == .tool {
                turns.append(try answer(session, to: nil, &sampler))
            }
            for message in try chatInputs(interactive: interactive) {
                if !json && !interactive { Console.out("user: \(message)\nassistant: ") }
                turns.append(try answer(session, to: ChatMessage(.user, message), &sampler))
            }
            if turns.isEmpty && !interactive {
                throw InputError(.missing, "nothing to answer: a dialog to answer must end with a user message (or give --message)")
            }
            if json {
                print(JSONOutput.object([("turns", .array(turns.map(Self.json)))]).rendered())
            }
        }
    }

    /// The user messages: --message, else lines typed on the terminal (until Ctrl-D), else the
    /// lines of standard input.
    private func chatInputs(interactive: Bool) throws -> AnySequence<String> {
        if !chatting.message.isEmpty { return AnySequence(chatting.message) }
        return AnySequence(
            AnyIterator {
                while true {
                    if interactive { Console.error("> ", newline: false) }
                    guard let line = readLine() else { return nil }
                    if !line.trimmingCharacters(in: .whitespaces).isEmpty { return line }
                }
            })
    }

    private func answer(_ session: ChatSession, to message: ChatMessage?, _ sampler: inout Sampler) throws -> ChatSession.Turn {
        Console.clearInterrupt()
        var stream = StreamingDecoder(session.tokenizer)
        let turn = try session.reply(
            to: message, maxTokens: n, sampler: &sampler, shouldStop: { Console.interrupted },
            onToken: { id in if !json { Console.out(try stream.append(id)) } })
        if !json {
            Console.out(try stream.finish() + "\n" + (Console.stdinIsTerminal ? "" : "\n"))
            Console.error(
                String(
                    format: "%@%d prompt tokens, %d tokens at %.1f tokens/s", turn.interrupted ? "(stopped) " : "", turn.promptTokens,
                    turn.ids.count, turn.generation.decodeTokensPerSecond))
        }
        return turn
    }

    /// --system and --dialog as the messages before the first --message.
    private func chatHistory() throws -> [ChatMessage] {
        var history: [ChatMessage] = []
        if let dialog = chatting.dialog { history = try ChatMessage.dialog(json: FileSystem.read(dialog, limit: 64 << 20), file: dialog) }
        if let system = chatting.system {
            if history.first?.role == .system { throw InputError(.mismatch, "--system and the dialog's system message: give one") }
            history.insert(ChatMessage(.system, system), at: 0)
        }
        return history
    }

    static func json(_ turn: ChatSession.Turn) -> JSONOutput {
        .object([
            ("ids", .array(turn.ids.map { .int($0) })), ("text", .string(turn.text)), ("prompt_tokens", .int(turn.promptTokens)),
            ("interrupted", .bool(turn.interrupted)), ("tokens_per_s", .double(turn.generation.decodeTokensPerSecond)),
        ])
    }
}
