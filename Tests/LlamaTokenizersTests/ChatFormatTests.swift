import BinaryIO
import Foundation
import Testing

@testable import LlamaTokenizers

/// Chat prompts against the ids Meta's own code gives for the same dialogs
/// (`fixtures/chat/make_chat_golden.py`: llama-models' `ChatFormat` with the real Llama 3
/// tokenizer; the llama repository's Llama 2 `chat_completion` with sentencepiece).
@Suite struct ChatFormatTests {
    struct Case: Decodable {
        struct Message: Decodable {
            var role: String
            var content: String
        }
        var format: String
        var dialog: [Message]
        var ids: [Int]
    }

    static let cases: [Case] = {
        let url = Llama3Fixture.root.appendingPathComponent("chat/golden.json")
        return (try? JSONDecoder().decode([Case].self, from: Data(contentsOf: url))) ?? []
    }()

    static func tokenizer(_ format: String) throws -> any Tokenizer {
        format == "llama3" ? try Llama3Fixture.tokenizer.get() : try SentencePieceTokenizer(parsing: SentencePieceTokenizerTests.modelBytes)
    }

    @Test func everyGoldenDialogIsThere() {
        #expect(Self.cases.count == 13)
    }

    @Test(arguments: cases.indices)
    func dialogPromptEqualsMetas(_ i: Int) throws {
        let c = Self.cases[i]
        let template = try #require(ChatTemplate(rawValue: c.format))
        let dialog = try c.dialog.map { ChatMessage(try #require(ChatMessage.Role(rawValue: $0.role)), $0.content) }
        #expect(try template.encodeDialogPrompt(dialog, with: Self.tokenizer(c.format)) == c.ids, "\(c.dialog.map(\.content))")
    }

    static let refused: [(ChatTemplate, [ChatMessage], String)] = [
        (.llama3, [], "must end with a user message"),
        (.llama3, [ChatMessage(.user, "hi"), ChatMessage(.assistant, "hello")], "must end with a user message"),
        (.llama2, [ChatMessage(.user, "a"), ChatMessage(.user, "b")], "message 2 is user"),
        (.llama2, [ChatMessage(.system, "s")], "must end with a user message"),
        (.llama2, [ChatMessage(.user, "a"), ChatMessage(.assistant, "b"), ChatMessage(.tool, "c")], "must end with a user message"),
        (.llama2, [ChatMessage(.tool, "a"), ChatMessage(.assistant, "b"), ChatMessage(.user, "c")], "message 1 is tool"),
    ]

    @Test(arguments: refused.indices)
    func dialogsTheFormatCannotExpressAreRefused(_ i: Int) throws {
        let (template, dialog, message) = Self.refused[i]
        let error = try #require(throws: InputError.self) {
            try template.encodeDialogPrompt(dialog, with: Self.tokenizer(template.rawValue))
        }
        #expect(error.kind == .malformed && error.message.contains(message), "\(error)")
    }

    @Test(arguments: [("  a b \n", "a b"), ("\u{1C}x\u{A0}", "x"), ("   ", ""), ("é", "é")])
    func stripIsPythons(_ text: String, _ stripped: String) {
        #expect(ChatTemplate.pythonStrip(text) == stripped)
    }
}
