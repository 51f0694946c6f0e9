import BinaryIO
import Dispatch
import Llama
import LlamaTokenizers
import ModelLoading
import TensorCore

/// Perplexity over a text, and KL divergence against a base model, with llama-perplexity's
/// method (`docs/perplexity.md` §1): the text is tokenized once with BOS, cut into chunks of
/// `context` tokens, each chunk evaluated from an empty cache with its first token replaced by
/// BOS, and only the positions of its second half scored on their next token.
public enum Perplexity {
    public struct Request: Sendable {
        public var model: String
        /// The text (nil only with `klBase`, whose file holds the tokens).
        public var text: String?
        /// Where the text came from, for messages.
        public var textLabel: String
        /// Tokens per chunk; nil: a `klBase` file's, else 512.
        public var context: Int?
        /// At most this many chunks; nil: all the text holds.
        public var chunks: Int?
        public var threads: Int
        /// Store the model's log-probabilities here, for later `klBase` runs.
        public var saveLogits: String?
        /// Compare with log-probabilities stored by `saveLogits` (or llama.cpp's `--kl-divergence-base`).
        public var klBase: String?
        /// Compare with this model, run on the same chunks.
        public var klBaseModel: String?
        public var sync: Bool
        /// Refuse to start when the memory plan exceeds this many bytes (nil: no limit).
        public var memoryLimit: Int?

        public init(
            model: String, text: String?, textLabel: String, context: Int? = nil, chunks: Int? = nil, threads: Int,
            saveLogits: String? = nil, klBase: String? = nil, klBaseModel: String? = nil, sync: Bool = true, memoryLimit: Int? = nil
        ) {
            self.memoryLimit = memoryLimit
            self.model = model
            self.text = text
            self.textLabel = textLabel
            self.context = context
            self.chunks = chunks
            self.threads = threads
            self.saveLogits = saveLogits
            self.klBase = klBase
            self.klBaseModel = klBaseModel
            self.sync = sync
        }
    }

    /// After each chunk.
    public struct Progress: Sendable {
        public var chunk: Int
        public var chunks: Int
        public var perplexity: Double
        public var meanKLD: Double?
        public var tokensPerSecond: Double
    }

    public struct Result: Sendable {
        /// "gguf", "pth" or "hf", and the weight type of the big matrices.
        public var format: String
        public var weightType: String
        /// Tokens of the whole text (with BOS).
        public var textTokens: Int
        public var context: Int
        public var chunks: Int
        /// Positions scored: chunks × (context − 1 − context/2).
        public var scored: Int
        public var perplexity: Double
        public var perplexityError: Double
        /// The running perplexity after each chunk (llama-perplexity's `[1]…,[2]…` line).
        public var chunkPerplexities: [Double]
        public var kld: KLDSummary?
        /// Evaluation time (forward passes and scoring, without loading).
        public var seconds: Double
        public var tokensPerSecond: Double { Double(chunks * context) / max(seconds, 1e-9) }
    }

    public static let defaultContext = 512

    /// - Throws: `InputError` for a text too short for two chunks, a base file or model that
    ///   does not match (vocabulary, context, tokens), or anything the model's files hold wrong.
    public static func run(_ request: Request, progress: (Progress) -> Void = { _ in }) throws -> Result {
        let base = try request.klBase.map { try LogitsFile(path: $0) }
        let context = try chooseContext(request, base: base)
        let prepared = try ModelFiles.prepare(request.model)
        let baseModel = try request.klBaseModel.map { try ModelFiles.prepare($0) }
        if let limit = request.memoryLimit {
            try plan(request, prepared, baseModel, context: context).check(limit: limit)
        }
        let opened = try prepared.model(maxSequenceLength: context, threads: request.threads)
        let vocab = opened.model.config.vocabSize
        let tokens = try textTokens(request, tokenizer: opened.tokenizer, base: base)
        var chunks = tokens.count / context
        if let base {
            guard base.vocab == vocab else {
                throw InputError(.mismatch, "the base logits have a vocabulary of \(base.vocab), the model \(vocab)", file: base.path)
            }
            chunks = base.chunks
        } else if tokens.count < 2 * context {
            throw InputError(
                .missing,
                "the text tokenizes to \(tokens.count) tokens; a context of \(context) needs at least \(2 * context) (two chunks): give more text or a smaller --ctx",
                file: request.textLabel)
        }
        if let limit = request.chunks { chunks = min(chunks, limit) }
        let baseSource = try BaseSource(
            request, stored: base, model: baseModel, context: context, vocab: vocab, chunks: chunks, tokens: tokens)
        let run = Evaluation(
            model: opened.model, tokens: tokens, bos: opened.tokenizer?.bosID ?? tokens[0], context: context, threads: request.threads)
        let start = DispatchTime.now().uptimeNanoseconds
        var tally = Tally(comparing: baseSource.compares)
        for chunk in 0..<chunks {
            try run.evaluate(chunk: chunk, base: baseSource, into: &tally)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            progress(
                Progress(
                    chunk: chunk + 1, chunks: chunks, perplexity: tally.perChunk.last!, meanKLD: tally.kld?.meanKLD,
                    tokensPerSecond: Double((chunk + 1) * context) / max(seconds, 1e-9)))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if case .saving(let writer) = baseSource { try writer.commit(sync: request.sync) }
        let summary = tally.kld?.summary()
        return Result(
            format: opened.format, weightType: opened.model.weightType.rawValue, textTokens: tokens.count, context: context, chunks: chunks,
            scored: chunks * run.scoredPerChunk, perplexity: summary?.perplexity.mean ?? tally.nll.perplexity,
            perplexityError: summary?.perplexity.error ?? tally.nll.perplexityError, chunkPerplexities: tally.perChunk, kld: summary,
            seconds: seconds)
    }

    /// The memory of the run: the model (and the base model) over one chunk, its logits in
    /// slices, the text and its tokens, and one chunk's compressed base rows.
    static func plan(
        _ request: Request, _ model: ModelFiles.Prepared, _ baseModel: ModelFiles.Prepared?, context: Int
    ) throws -> MemoryPlan {
        var plan = MemoryPlan(
            command: "perplexity",
            terms: try model.memoryTerms(maxSequenceLength: context, positions: context, logitRows: min(context, rowsPerSlice)),
            advice: "lower --ctx")
        if let baseModel {
            plan = plan.adding(
                try baseModel.memoryTerms(maxSequenceLength: context, positions: context, logitRows: min(context, rowsPerSlice)))
        }
        // At most one token per byte, 8 bytes each, beside the text itself.
        let textBytes = (request.text?.utf8.count ?? 0) * 9
        let baseRows = context * 2 * LogProbRow.width(vocab: model.config.vocabSize)
        return plan.adding([
            MemoryPlan.Term("text and base rows", textBytes + baseRows), MemoryPlan.Term("process", MemoryPlan.baseline),
        ])
    }

    /// Logit rows a chunk's forward call hands out at a time.
    static let rowsPerSlice = 64

    private static func chooseContext(_ request: Request, base: LogitsFile?) throws -> Int {
        guard let base else { return request.context ?? defaultContext }
        if let given = request.context, given != base.context {
            throw InputError(.mismatch, "the base logits were computed with a context of \(base.context), not \(given)", file: base.path)
        }
        return base.context
    }

    /// The text's tokens with BOS; with a base file, checked against the tokens it stores.
    private static func textTokens(_ request: Request, tokenizer: (any Tokenizer)?, base: LogitsFile?) throws -> [Int] {
        guard let text = request.text else {
            guard let base else { throw InputError(.missing, "no text to evaluate") }
            return base.tokens
        }
        guard let tokenizer else {
            throw InputError(.missing, "the model has no tokenizer to read the text with", file: request.model)
        }
        guard !text.isEmpty else { throw InputError(.missing, "the text is empty", file: request.textLabel) }
        let tokens = tokenizer.encode(text, bos: true, eos: false, allowSpecial: false)
        guard let base else { return tokens }
        guard tokens.count >= base.tokens.count else {
            throw InputError(
                .mismatch, "the base logits cover \(base.tokens.count) tokens but the text has \(tokens.count): computed on other text",
                file: base.path)
        }
        if let i = base.tokens.indices.first(where: { tokens[$0] != base.tokens[$0] }) {
            throw InputError(
                .mismatch, "the base logits were computed on other text: token \(i) is \(base.tokens[i]) there, \(tokens[i]) here",
                file: base.path)
        }
        return base.tokens
    }
}

/// Where a run's base log-probabilities come from (a stored file, a model run alongside), or go
/// (`--save-logits`); `none` for plain perplexity.
enum BaseSource {
    case none
    case stored(LogitsFile)
    case live(LlamaModel)
    case saving(LogitsFile.Writer)

    init(
        _ request: Perplexity.Request, stored: LogitsFile?, model prepared: ModelFiles.Prepared?, context: Int, vocab: Int, chunks: Int,
        tokens: [Int]
    ) throws {
        if let stored {
            self = .stored(stored)
        } else if let prepared {
            guard prepared.config.vocabSize == vocab else {
                throw InputError(
                    .mismatch, "vocabulary \(prepared.config.vocabSize) differs from the model's \(vocab)", file: prepared.path)
            }
            let model = try prepared.model(maxSequenceLength: context, threads: request.threads).model
            self = .live(model)
        } else if let path = request.saveLogits {
            self = .saving(
                try LogitsFile.Writer(path: path, context: context, vocab: vocab, chunks: chunks, tokens: tokens[0..<(chunks * context)]))
        } else {
            self = .none
        }
    }

    var compares: Bool {
        switch self {
        case .stored, .live: return true
        case .none, .saving: return false
        }
    }
}

/// The running sums of a run.
struct Tally {
    var nll = NLLAccumulator()
    var kld: KLDAccumulator?
    /// The perplexity after each chunk.
    var perChunk: [Double] = []

    init(comparing: Bool) { kld = comparing ? KLDAccumulator() : nil }
}

/// One model's pass over the chunks of a text.
struct Evaluation {
    let model: LlamaModel
    let tokens: [Int]
    let bos: Int
    let context: Int
    let threads: Int
    var first: Int { context / 2 }
    var scoredPerChunk: Int { context - 1 - first }

    /// Chunk `chunk`'s tokens with BOS first, as llama-perplexity evaluates them.
    func chunkTokens(_ chunk: Int) -> [Int] {
        var ids = Array(tokens[(chunk * context)..<((chunk + 1) * context)])
        ids[0] = bos
        return ids
    }

    /// The tokens that the positions of chunk `chunk` predict: `[position]` is position's next token.
    func targets(_ chunk: Int) -> [Int] { Array(tokens[(chunk * context + 1)..<((chunk + 1) * context)]) }

    /// Runs `model` on chunk `chunk` and calls `body(position, logits)` for every scored
    /// position, on up to `threads` threads; each call writes only its own position's slot.
    private func forEachScored(
        _ model: LlamaModel, chunk: Int, _ body: @Sendable (Int, UnsafeBufferPointer<Float>) -> Void
    ) throws {
        let vocab = model.config.vocabSize
        model.reset()
        try model.forward(chunkTokens(chunk), logitsFrom: first, rowsPerSlice: Perplexity.rowsPerSlice) { firstRow, slice in
            let rows = min(slice.count / vocab, context - 1 - firstRow)
            guard rows > 0 else { return }
            nonisolated(unsafe) let slice = slice
            let work: @Sendable (Int) -> Void = { k in
                body(firstRow + k, UnsafeBufferPointer(rebasing: slice[(k * vocab)..<((k + 1) * vocab)]))
            }
            if threads > 1 { DispatchQueue.concurrentPerform(iterations: rows, execute: work) } else { (0..<rows).forEach(work) }
        }
    }

    /// Plain perplexity: the NLL of every scored position, summed in position order.
    func score(chunk: Int, into nll: inout NLLAccumulator) throws {
        let values = SlotArray<Double>(count: scoredPerChunk, repeating: 0)
        let (first, targets) = (first, targets(chunk))
        try forEachScored(model, chunk: chunk) { position, logits in
            values[position - first] = LogProbRow.negativeLogLikelihood(logits, token: targets[position])
        }
        for value in values.elements { nll.add(value) }
    }

    /// `source`'s compressed log-probability rows for chunk `chunk`, and each position's NLL.
    func baseRows(chunk: Int, of source: LlamaModel) throws -> (rows: [UInt16], nll: [Double]) {
        let width = LogProbRow.width(vocab: source.config.vocabSize)
        let rows = SlotArray<UInt16>(count: scoredPerChunk * width, repeating: 0)
        let values = SlotArray<Double>(count: scoredPerChunk, repeating: 0)
        let (first, targets) = (first, targets(chunk))
        try forEachScored(source, chunk: chunk) { position, logits in
            let k = position - first
            values[k] = rows.withSlots(k * width, width) { LogProbRow.encode(logits, token: targets[position], into: $0) }
        }
        return (rows.elements, values.elements)
    }

    /// One chunk: scored alone, against a base, or stored as the base.
    func evaluate(chunk: Int, base: BaseSource, into tally: inout Tally) throws {
        switch base {
        case .none: try score(chunk: chunk, into: &tally.nll)
        case .stored(let file): try file.withRows(ofChunk: chunk) { try compare(chunk: chunk, base: $0, into: &tally.kld!) }
        case .live(let baseModel):
            let rows = try baseRows(chunk: chunk, of: baseModel).rows
            try rows.withUnsafeBufferPointer { try compare(chunk: chunk, base: $0, into: &tally.kld!) }
        case .saving(let writer):
            let (rows, nll) = try baseRows(chunk: chunk, of: model)
            try rows.withUnsafeBufferPointer { try writer.append($0) }
            nll.forEach { tally.nll.add($0) }
        }
        tally.perChunk.append(tally.kld?.perplexity ?? tally.nll.perplexity)
    }

    /// KL divergence of chunk `chunk` against stored base rows.
    func compare(chunk: Int, base rows: UnsafeBufferPointer<UInt16>, into kld: inout KLDAccumulator) throws {
        let width = LogProbRow.width(vocab: model.config.vocabSize)
        precondition(rows.count == scoredPerChunk * width)
        let positions = SlotArray<LogProbRow.Position>(
            count: scoredPerChunk, repeating: LogProbRow.Position(nll: 0, nllBase: 0, kld: 0, probabilityDelta: 0, sameTop: false))
        let (first, targets) = (first, targets(chunk))
        nonisolated(unsafe) let rows = rows
        try forEachScored(model, chunk: chunk) { position, logits in
            let k = position - first
            let row = UnsafeBufferPointer(rebasing: rows[(k * width)..<((k + 1) * width)])
            positions[k] = LogProbRow.compare(logits, base: row, token: targets[position])
        }
        for position in positions.elements { kld.add(position) }
    }
}
