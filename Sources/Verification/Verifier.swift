import BinaryIO
import Llama
import LlamaTokenizers
import ModelLoading
import TensorCore

/// Runs a model on a reference's tokens and compares its logits with stored ones (`reference`)
/// or with a second model run on the same tokens (`against`): what `llamakit verify` does.
public enum Verifier {
    public struct Request: Sendable {
        public var model: String
        /// Stored logits: a `.pth` with tokens and logits, or a `.npy` of logits.
        public var reference: String?
        /// A second model (usually the original checkpoint) run as the reference.
        public var against: String?
        /// Tokens given by the user (required with `against` or a `.npy` without tokens.npy).
        public var tokens: [Int]?
        /// Text instead of tokens (with `against`), tokenized with the model's tokenizer after BOS.
        public var text: String?
        public var threads: Int
        /// Refuse to start when the memory plan exceeds this many bytes (nil: no limit).
        public var memoryLimit: Int?

        public init(
            model: String, reference: String?, against: String?, tokens: [Int]?, text: String? = nil, threads: Int,
            memoryLimit: Int? = nil
        ) {
            self.memoryLimit = memoryLimit
            self.model = model
            self.reference = reference
            self.against = against
            self.tokens = tokens
            self.text = text
            self.threads = threads
        }
    }

    public struct Outcome {
        public var comparison: Comparison
        /// The gate for the model's weight type.
        public var gate: VerificationGate
        /// "pth" or "gguf".
        public var format: String
        public var weightType: String
        public var referenceLabel: String
        public var vocab: Int
        /// The positions run, and the tokenizer that turned `text` into them (when there was text).
        public var tokens: [Int]
        public var tokenizer: (any Tokenizer)?
        /// How the model's weights, and the original's with `against`, were held.
        public var residency: WeightResidency
        public var againstResidency: WeightResidency?
    }

    /// - Parameter status: progress lines for a terminal.
    /// - Throws: `InputError` for a missing or inconsistent reference or model.
    public static func run(_ request: Request, status: (String) -> Void = { _ in }) throws -> Outcome {
        var tokens: [Int] = []
        var referenceLogits: [Float]? = nil
        var referenceVocab: Int? = nil
        var textTokenizer: (any Tokenizer)? = nil
        if let reference = request.reference {
            let loaded = try ReferenceLogits.load(reference, tokens: request.tokens)
            (tokens, referenceLogits, referenceVocab) = (loaded.tokens, loaded.logits, loaded.vocab)
        } else if let text = request.text {
            guard !text.isEmpty else { throw InputError(.missing, "the text is empty") }
        } else {
            guard let given = request.tokens else {
                throw InputError(.missing, "--against needs the tokens: give --tokens, --tokens-file, --text or --text-file")
            }
            tokens = given
        }
        guard !tokens.isEmpty || request.text != nil else {
            throw InputError(.missing, "the reference has no positions", file: request.reference)
        }
        // A text has at most one token per byte, plus BOS; the cache is allocated only when used.
        let capacity = request.text.map { $0.utf8.count + 1 } ?? tokens.count
        let prepared = try ModelFiles.prepare(request.model)
        let original = try request.against.map { try ModelFiles.prepare($0) }
        if let limit = request.memoryLimit {
            try plan(prepared, original, positions: capacity, referenceBytes: (referenceLogits?.count ?? 0) * 4).check(limit: limit)
        }
        let opened = try prepared.model(maxSequenceLength: capacity, threads: request.threads)
        if let text = request.text {
            (tokens, textTokenizer) = try tokenize(text, with: opened.tokenizer, or: request.against, model: request.model)
        }
        let vocab = opened.model.config.vocabSize
        if let referenceVocab, referenceVocab != vocab {
            throw InputError(
                .mismatch, "the reference has \(referenceVocab) logits per position, the model's vocabulary \(vocab)",
                file: request.reference)
        }
        status("running \(request.model) on \(tokens.count) positions…")
        let logits = try opened.model.forward(tokens)
        var againstResidency: WeightResidency? = nil
        if referenceLogits == nil, let original {
            status("running \(original.path) on \(tokens.count) positions…")
            (referenceLogits, againstResidency) = try runOriginal(original, tokens: tokens, vocab: vocab, threads: request.threads)
        }
        status("")
        return Outcome(
            comparison: Comparison(reference: referenceLogits!, model: logits, tokens: tokens, vocab: vocab),
            gate: .forFile(fileType: opened.fileType, weights: opened.model.weightType), format: opened.format,
            weightType: opened.model.weightType.rawValue,
            referenceLabel: request.reference ?? request.against ?? "", vocab: vocab, tokens: tokens,
            tokenizer: textTokenizer, residency: opened.model.weightResidency, againstResidency: againstResidency)
    }

    /// The memory of the run: the model (and the original with `against`) over `positions`
    /// positions, with every position's logits, and the stored reference logits.
    static func plan(
        _ model: ModelFiles.Prepared, _ original: ModelFiles.Prepared?, positions: Int, referenceBytes: Int
    ) throws -> MemoryPlan {
        var plan = MemoryPlan(
            command: "verify", terms: try model.memoryTerms(maxSequenceLength: positions, positions: positions, logitRows: positions),
            advice: "verify fewer positions")
        if let original {
            plan = plan.adding(try original.memoryTerms(maxSequenceLength: positions, positions: positions, logitRows: positions))
        }
        if referenceBytes > 0 { plan = plan.adding([MemoryPlan.Term("reference logits", referenceBytes)]) }
        return plan.adding([MemoryPlan.Term("process", MemoryPlan.baseline)])
    }

    /// `text` as tokens of the model's tokenizer (the original's when the model has none), BOS first.
    private static func tokenize(
        _ text: String, with modelTokenizer: (any Tokenizer)?, or against: String?, model: String
    ) throws -> ([Int], any Tokenizer) {
        guard let tokenizer = try modelTokenizer ?? against.flatMap({ try ModelFiles.tokenizer(of: $0) }) else {
            throw InputError(.missing, "neither model has a tokenizer to read the text with: give --tokens", file: model)
        }
        return (tokenizer.encode(text, bos: true, eos: false, allowSpecial: false), tokenizer)
    }

    private static func runOriginal(
        _ original: ModelFiles.Prepared, tokens: [Int], vocab: Int, threads: Int
    ) throws -> ([Float], WeightResidency) {
        guard original.config.vocabSize == vocab else {
            throw InputError(.mismatch, "vocabulary \(original.config.vocabSize) differs from the model's \(vocab)", file: original.path)
        }
        let model = try original.model(maxSequenceLength: tokens.count, threads: threads).model
        return (try model.forward(tokens), model.weightResidency)
    }
}
