#if canImport(Glibc)
    import Glibc
#endif

/// The per-position arithmetic of perplexity and KL divergence, in llama.cpp's terms
/// (`docs/perplexity.md` §2–§3): the negative log-likelihood of the next token, and the
/// compressed row of base log-probabilities that `--save-logits` stores and `--kl-base` reads.
///
/// A row is `width(vocab)` UInt16 slots: the first four hold two f32 (the step and the smallest
/// log-probability kept, which is at most 16 nats below the largest), the rest one 16-bit level
/// per vocabulary entry (vocab rounded up to even). The same layout as llama.cpp's
/// `--kl-divergence-base` files, so either tool reads the other's.
public enum LogProbRow {
    /// UInt16 slots per row.
    public static func width(vocab: Int) -> Int { 2 * ((vocab + 1) / 2) + 4 }

    /// The largest logit and log Σ exp(logit − max), summed in Double over f32 exponentials.
    @inline(__always)
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> (max: Float, index: Int, logSum: Float) {
        var maximum = logits[0], index = 0
        for i in 1..<logits.count where logits[i] > maximum {
            maximum = logits[i]
            index = i
        }
        var sum = 0.0
        for value in logits { sum += Double(expf(value - maximum)) }
        return (maximum, index, Float(log(sum)))
    }

    /// −log p(token) under `logits`.
    public static func negativeLogLikelihood(_ logits: UnsafeBufferPointer<Float>, token: Int) -> Double {
        let (maximum, _, logSum) = logSumExp(logits)
        return Double(maximum + logSum - logits[token])
    }

    /// Writes the compressed log-probabilities of `logits` into `row` and returns −log p(token).
    public static func encode(_ logits: UnsafeBufferPointer<Float>, token: Int, into row: UnsafeMutableBufferPointer<UInt16>) -> Double {
        let (maximum, _, logSum) = logSumExp(logits)
        var minimum = logits[0]
        for value in logits { minimum = min(minimum, value) }
        minimum = max(minimum, maximum - 16)
        let minLogProb = minimum - maximum - logSum
        let scale = (maximum - minimum) / 65535
        let raw = UnsafeMutableRawBufferPointer(row)
        raw.storeBytes(of: scale.bitPattern, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: minLogProb.bitPattern, toByteOffset: 4, as: UInt32.self)
        let levels = UnsafeMutableBufferPointer(rebasing: row[4...])
        levels.initialize(repeating: 0)
        if scale != 0 {
            let inverse = 1 / scale
            for i in logits.indices where logits[i] > minimum { levels[i] = UInt16(nearestInt(inverse * (logits[i] - minimum))) }
        }
        return Double(maximum + logSum - logits[token])
    }

    /// ggml's round-to-nearest through the f32 mantissa (exact for 0 … 65535).
    @inline(__always) static func nearestInt(_ value: Float) -> Int32 {
        let bits = Int32(bitPattern: (value + 12_582_912).bitPattern)
        return (bits & 0x007F_FFFF) - 0x0040_0000
    }

    /// The step and smallest log-probability of a stored row.
    @inline(__always) static func header(_ row: UnsafeBufferPointer<UInt16>) -> (scale: Float, minLogProb: Float) {
        let raw = UnsafeRawBufferPointer(row)
        return (
            Float(bitPattern: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
            Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        )
    }

    /// One position of a KL-divergence run: the model's `logits` against the base's stored `row`.
    public struct Position: Sendable {
        /// −log p(token) under the model and under the base.
        public var nll: Double
        public var nllBase: Double
        /// KL(base ‖ model), over the entries the base keeps (log-probability above −16).
        public var kld: Double
        /// p_model(token) − p_base(token).
        public var probabilityDelta: Float
        /// Whether the two agree on the most likely token.
        public var sameTop: Bool
    }

    /// Compares `logits` with a stored base `row` at the position whose next token is `token`.
    public static func compare(_ logits: UnsafeBufferPointer<Float>, base row: UnsafeBufferPointer<UInt16>, token: Int) -> Position {
        let (maximum, top, logSum) = logSumExp(logits)
        let (scale, minLogProb) = header(row)
        let levels = UnsafeBufferPointer(rebasing: row[4...])
        let nll = maximum + logSum - logits[token]
        let nllBase = -(scale * Float(levels[token]) + minLogProb)
        let logNormaliser = maximum + logSum
        var kld = 0.0
        var topBase = 0
        var topBaseLogProb: Float = 0
        for i in logits.indices {
            let logProbBase = scale * Float(levels[i]) + minLogProb
            if i == 0 || logProbBase > topBaseLogProb {
                topBaseLogProb = logProbBase
                topBase = i
            }
            if logProbBase > -16 { kld += Double(expf(logProbBase) * (logProbBase - logits[i] + logNormaliser)) }
        }
        return Position(
            nll: Double(nll), nllBase: Double(nllBase), kld: kld, probabilityDelta: expf(-nll) - expf(-nllBase), sameTop: top == topBase)
    }
}
