import Foundation
import Llama
import LlamaTokenizers
import ModelLoading
import Testing

/// A chat keeps its KV cache across turns: what it answers must be what a fresh model answers
/// to the whole dialog at once.
@Suite struct ChatSessionTests {
    static func session(history: [ChatMessage] = []) throws -> ChatSession {
        let opened = try ModelFiles.open(ConversionTests.fixtures.appendingPathComponent("demo").path, maxSequenceLength: 256)
        return ChatSession(model: opened.model, tokenizer: try #require(opened.tokenizer), history: history)
    }

    @Test func laterTurnsEqualAFreshRunOfTheWholeDialog() throws {
        let kept = try Self.session(history: [ChatMessage(.system, "Tell stories.")])
        var sampler = Sampler(temperature: 0, topP: 1, seed: 0)
        let first = try kept.reply(to: ChatMessage(.user, "Anna saw"), maxTokens: 10, sampler: &sampler)
        let second = try kept.reply(to: ChatMessage(.user, "The king"), maxTokens: 10, sampler: &sampler)
        // Only the new part of the second prompt ran: far fewer tokens than the whole dialog.
        let whole = try kept.template.encodeDialogPrompt(Array(kept.dialog.dropLast()), with: kept.tokenizer)
        #expect(second.promptTokens < whole.count - first.ids.count)
        #expect(kept.dialog.map(\.role) == [.system, .user, .assistant, .user, .assistant])

        let fresh = try Self.session(history: Array(kept.dialog.prefix(3)))
        let again = try fresh.reply(to: ChatMessage(.user, "The king"), maxTokens: 10, sampler: &sampler)
        #expect(again.promptTokens == whole.count)
        #expect(again.ids == second.ids && again.text == second.text)
    }

    @Test func anInterruptedAnswerStopsAndTheChatGoesOn() throws {
        let session = try Self.session()
        var sampler = Sampler(temperature: 0, topP: 1, seed: 0)
        var count = 0
        let cut = try session.reply(
            to: ChatMessage(.user, "Ben"), maxTokens: 20, sampler: &sampler, shouldStop: { count >= 3 }, onToken: { _ in count += 1 })
        #expect(cut.interrupted && cut.ids.count == 3)
        let next = try session.reply(to: ChatMessage(.user, "Anna"), maxTokens: 4, sampler: &sampler)
        #expect(!next.interrupted && next.ids.count == 4)
    }
}
