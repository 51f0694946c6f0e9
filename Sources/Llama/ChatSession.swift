import BinaryIO
import LlamaTokenizers

/// A conversation with a model in Meta's chat format (`docs/chat.md` §4). Each turn's prompt is
/// the whole dialog encoded as Meta's code encodes it; only the part after what the KV cache
/// already holds is run, so earlier turns cost nothing again.
public final class ChatSession {
    public let model: LlamaModel
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate
    public private(set) var dialog: [ChatMessage]
    /// The tokens whose keys and values the model's cache holds, in order.
    private var cached: [Int] = []

    /// One answer.
    public struct Turn: Sendable {
        public var ids: [Int]
        public var text: String
        /// Tokens run before the answer (the new part of the prompt).
        public var promptTokens: Int
        public var generation: LlamaModel.Generation
        /// Stopped by `shouldStop`, not by an end-of-turn token or the token limit.
        public var interrupted: Bool
    }

    /// - Parameter history: earlier messages (a system message, or a whole scripted dialog).
    public init(model: LlamaModel, tokenizer: any Tokenizer, history: [ChatMessage] = []) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = ChatTemplate.forTokenizer(tokenizer)
        self.dialog = history
        model.reset()
    }

    /// Adds `message` (user or tool) to the dialog and generates the assistant's answer.
    /// - Throws: `InputError` for a dialog the format cannot express, or one longer than the
    ///   model's cache.
    public func reply(
        to message: ChatMessage?, maxTokens: Int, sampler: inout Sampler, shouldStop: () -> Bool = { false },
        onToken: (Int) throws -> Void = { _ in }
    ) throws -> Turn {
        var candidate = dialog
        if let message { candidate.append(message) }
        let prompt = try template.encodeDialogPrompt(candidate, with: tokenizer)
        guard prompt.count < model.maxSequenceLength else {
            throw InputError(
                .overLimit,
                "the conversation is \(prompt.count) tokens, the context \(model.maxSequenceLength): start a new one or give a larger --ctx"
            )
        }
        let shared = zip(cached, prompt).prefix { $0 == $1 }.count
        // At least one prompt token must run to give the logits of the answer's first token.
        let kept = min(shared, prompt.count - 1)
        model.rewind(to: kept)
        let budget = min(maxTokens, model.maxSequenceLength - prompt.count)
        let generation = try model.generate(
            prompt: Array(prompt[kept...]), maxTokens: budget, sampler: &sampler, stopIDs: tokenizer.stopIDs, shouldStop: shouldStop,
            onToken: onToken)
        cached = prompt + generation.ids.prefix(generation.decodeSteps)
        let text = try tokenizer.decode(generation.ids)
        dialog = candidate + [ChatMessage(.assistant, text)]
        let interrupted = shouldStop()
        return Turn(ids: generation.ids, text: text, promptTokens: prompt.count - kept, generation: generation, interrupted: interrupted)
    }
}
