import Dispatch

extension LlamaModel {
    /// What a `generate` call produced and how fast.
    public struct Generation: Sendable {
        public var ids: [Int] = []
        public var promptTokens = 0
        public var prefillSeconds = 0.0
        /// Forward passes of one token after the prompt (the last sampled token needs none).
        public var decodeSteps = 0
        public var decodeSeconds = 0.0

        public var prefillTokensPerSecond: Double { Double(promptTokens) / max(prefillSeconds, 1e-9) }
        public var decodeTokensPerSecond: Double { decodeSteps > 0 ? Double(decodeSteps) / max(decodeSeconds, 1e-9) : 0 }
    }

    /// Runs `prompt` (after what the cache already holds), then samples up to `maxTokens` tokens
    /// one at a time, stopping before a token in `stopIDs` or when `shouldStop` says so (Ctrl-C
    /// in a chat). `onToken` sees each kept token as it is sampled. The cache then holds the
    /// prompt and the first `decodeSteps` generated tokens.
    /// - Throws: `InputError` for a prompt token outside the vocabulary or a sequence longer
    ///   than the cache; whatever `onToken` throws.
    public func generate(
        prompt: [Int], maxTokens: Int, sampler: inout Sampler, stopIDs: Set<Int>, shouldStop: () -> Bool = { false },
        onToken: (Int) throws -> Void = { _ in }
    ) throws -> Generation {
        var result = Generation(promptTokens: prompt.count)
        let vocab = config.vocabSize
        let prefillStart = DispatchTime.now().uptimeNanoseconds
        var logits = try forward(prompt, logits: .last)
        result.prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - prefillStart) / 1e9
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        while result.ids.count < maxTokens && !shouldStop() {
            let next = sampler.sample(logits[0..<vocab])
            if stopIDs.contains(next) { break }
            result.ids.append(next)
            try onToken(next)
            if result.ids.count == maxTokens || shouldStop() { break }
            logits = try forward([next], logits: .last)
            result.decodeSteps += 1
        }
        result.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        return result
    }
}
