import BinaryIO

/// One message of a dialog.
public struct ChatMessage: Sendable, Equatable {
    /// Meta's roles; `tool` is written with the header `ipython`, as Llama 3.1's format does.
    public enum Role: String, Sendable, CaseIterable {
        case system, user, assistant, tool
    }

    public var role: Role
    public var content: String

    public init(_ role: Role, _ content: String) {
        self.role = role
        self.content = content
    }
}

/// Meta's chat formats as token encoders (`docs/chat.md` §1–§2): exactly the ids of llama-models'
/// `ChatFormat.encode_dialog_prompt` (Llama 3.x) and of the llama repository's `chat_completion`
/// (Llama 2 chat), so a dialog reaches the model as Meta's own code would send it.
extension ChatTemplate {
    /// The prompt for the model to answer the dialog's last (user or tool) message.
    /// - Throws: `InputError` for a dialog Meta's format cannot express: empty, not ending with a
    ///   user (or, for Llama 3, tool) message, or (Llama 2) roles that do not alternate user,
    ///   assistant after an optional system message, or a tool message.
    public func encodeDialogPrompt(_ dialog: [ChatMessage], with tokenizer: any Tokenizer) throws -> [Int] {
        guard let last = dialog.last, last.role == .user || (self == .llama3 && last.role == .tool) else {
            throw InputError(.malformed, "a dialog to answer must end with a user message")
        }
        switch self {
        case .llama3: return try llama3Prompt(dialog, tokenizer)
        case .llama2: return try llama2Prompt(dialog, tokenizer)
        }
    }

    /// `<|begin_of_text|>`, then per message its header, content and `<|eot_id|>`, then the
    /// assistant's header for the model to continue.
    private func llama3Prompt(_ dialog: [ChatMessage], _ tokenizer: any Tokenizer) throws -> [Int] {
        let special = try Llama3Specials(tokenizer)
        var ids = [special.beginOfText]
        for message in dialog {
            ids += special.header(message.role == .tool ? "ipython" : message.role.rawValue, tokenizer)
            ids += tokenizer.encode(message.content, bos: false, eos: false, allowSpecial: false)
            ids.append(special.endOfTurn)
        }
        return ids + special.header("assistant", tokenizer)
    }

    /// Each exchange `[INST] user [/INST] answer ` with BOS and EOS, the system message folded
    /// into the first user message between `<<SYS>>` markers, then `[INST] last [/INST]` with BOS.
    private func llama2Prompt(_ dialog: [ChatMessage], _ tokenizer: any Tokenizer) throws -> [Int] {
        var turns = dialog
        if turns.first?.role == .system {
            guard turns.count > 1 else { throw InputError(.malformed, "a system message must be followed by a user message") }
            turns = [ChatMessage(turns[1].role, "<<SYS>>\n" + turns[0].content + "\n<</SYS>>\n\n" + turns[1].content)] + turns[2...]
        }
        for (i, message) in turns.enumerated() where message.role != (i % 2 == 0 ? .user : .assistant) {
            throw InputError(
                .malformed,
                "Llama 2 chat needs user and assistant messages in turn (after an optional system message): message \(i + 1) is \(message.role.rawValue)"
            )
        }
        var ids: [Int] = []
        for pair in stride(from: 0, to: turns.count - 1, by: 2) {
            let (prompt, answer) = (Self.pythonStrip(turns[pair].content), Self.pythonStrip(turns[pair + 1].content))
            ids += tokenizer.encode("[INST] \(prompt) [/INST] \(answer) ", bos: true, eos: true, allowSpecial: false)
        }
        return ids + tokenizer.encode("[INST] \(Self.pythonStrip(turns.last!.content)) [/INST]", bos: true, eos: false, allowSpecial: false)
    }

    /// Python's `str.strip()`: leading and trailing characters for which `isspace()` is true
    /// (Unicode White_Space, plus the separators U+001C…U+001F).
    static func pythonStrip(_ text: String) -> String {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }
}

/// The special ids of Llama 3's chat format.
private struct Llama3Specials {
    let beginOfText, startHeader, endHeader, endOfTurn: Int

    init(_ tokenizer: any Tokenizer) throws {
        guard let llama3 = tokenizer as? Llama3Tokenizer else {
            throw InputError(.unsupported, "the Llama 3 chat format needs a Llama 3 tokenizer")
        }
        func id(_ name: String) throws -> Int {
            guard let id = llama3.specialID(name) else { throw InputError(.missing, "the tokenizer has no \(name)") }
            return id
        }
        (beginOfText, startHeader, endHeader, endOfTurn) = (
            try id("<|begin_of_text|>"), try id("<|start_header_id|>"), try id("<|end_header_id|>"), try id("<|eot_id|>")
        )
    }

    func header(_ role: String, _ tokenizer: any Tokenizer) -> [Int] {
        [startHeader] + tokenizer.encode(role, bos: false, eos: false, allowSpecial: false) + [endHeader]
            + tokenizer.encode("\n\n", bos: false, eos: false, allowSpecial: false)
    }
}

extension ChatMessage {
    /// A dialog from JSON: `[{"role": "system" | "user" | "assistant" | "tool", "content": "…"}, …]`.
    /// - Throws: `InputError` naming the message for anything else (an unknown role included).
    public static func dialog(json bytes: [UInt8], file: String? = nil) throws -> [ChatMessage] {
        try attributing(to: file ?? "") {
            guard let messages = try JSONParser.parse(bytes).array else {
                throw InputError(.malformed, "a dialog is a JSON array of {\"role\", \"content\"} objects")
            }
            return try messages.enumerated().map { i, value in
                guard let object = value.object, let role = object["role"]?.string, let content = object["content"]?.string else {
                    throw InputError(.malformed, "message \(i + 1): expected {\"role\": string, \"content\": string}")
                }
                guard let known = Role(rawValue: role) else {
                    let roles = Role.allCases.map(\.rawValue).joined(separator: ", ")
                    throw InputError(.malformed, "message \(i + 1) has the role '\(role)': expected one of \(roles)")
                }
                return ChatMessage(known, content)
            }
        }
    }
}
