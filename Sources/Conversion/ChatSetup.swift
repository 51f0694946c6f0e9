import BinaryIO
import LlamaTokenizers

/// What a converted instruct/chat model carries so that runtimes format prompts and stop as Meta's
/// model expects (`docs/chat.md` §3): the Jinja chat template, and for Llama 3 instruct models
/// end-of-turn as the end-of-sequence id (llama.cpp, ollama and LM Studio stop at eos).
public struct ChatSetup: Sendable, Equatable {
    /// The template text written as `tokenizer.chat_template` (GGUF) or into tokenizer_config.json.
    public var template: String?
    /// An instruct model: Llama 3's `<|eot_id|>` becomes the eos id.
    public var instruct: Bool

    public init(template: String?, instruct: Bool) {
        self.template = template
        self.instruct = instruct
    }

    /// `--chat-template` as given: a template name, `none`, or a UTF-8 file.
    public enum Choice: Sendable, Equatable {
        case named(ChatTemplate)
        case none
        case file(String)

        public init(_ argument: String) {
            if argument == "none" {
                self = .none
            } else if let named = ChatTemplate(rawValue: argument) {
                self = .named(named)
            } else {
                self = .file(argument)
            }
        }

        /// The template text, nil for `none`.
        /// - Throws: `InputError` for a file that cannot be read, is empty or is not UTF-8.
        public func text() throws -> String? {
            switch self {
            case .none: return nil
            case .named(let template): return template.text
            case .file(let path):
                let text = try FileSystem.readText(path, limit: 1 << 20)
                guard !text.isEmpty else { throw InputError(.missing, "the chat template file is empty", file: path) }
                return text
            }
        }
    }

    /// The setup for a model: an explicit choice wins; otherwise an instruct model gets its
    /// tokenizer family's template and a base model none.
    public static func resolve(choice: Choice?, instruct: Bool, tokenizer: (any Tokenizer)?) throws -> ChatSetup {
        if let choice { return ChatSetup(template: try choice.text(), instruct: instruct) }
        guard instruct, let tokenizer else { return ChatSetup(template: nil, instruct: instruct) }
        return ChatSetup(template: ChatTemplate.forTokenizer(tokenizer).text, instruct: true)
    }

    /// Instruct and chat releases say so in their directory names (Meta-Llama-3.1-8B-Instruct,
    /// Llama-2-7b-chat).
    public static func looksInstruct(_ path: String) -> Bool {
        let name = FileSystem.baseName(path.hasSuffix("/") ? String(path.dropLast()) : path).lowercased()
        return name.contains("instruct") || name.contains("chat")
    }
}
