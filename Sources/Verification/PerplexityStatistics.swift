import Foundation

/// A mean over positions with its standard error, as llama.cpp's `mean_and_uncertainty`
/// (no error below 11 values).
public struct MeanAndError: Sendable, Equatable {
    public var mean: Double
    public var error: Double

    init(sum: Double, sumOfSquares: Double, count: Int) {
        guard count > 0 else {
            (mean, error) = (0, 0)
            return
        }
        mean = sum / Double(count)
        let variance = sumOfSquares / Double(count) - mean * mean
        error = variance > 0 && count > 10 ? (variance / Double(count - 1)).squareRoot() : 0
    }

    init(mean: Double, error: Double) {
        (self.mean, self.error) = (mean, error)
    }
}

/// Perplexity over scored positions: exp(mean NLL) ± exp(mean) × the standard error of the NLL
/// (llama-perplexity's "Final estimate").
public struct NLLAccumulator: Sendable {
    public private(set) var sum = 0.0
    public private(set) var sumOfSquares = 0.0
    public private(set) var count = 0

    public init() {}

    public mutating func add(_ nll: Double) {
        sum += nll
        sumOfSquares += nll * nll
        count += 1
    }

    public var perplexity: Double { exp(sum / Double(max(count, 1))) }

    /// llama.cpp's ± on the final estimate: PPL × sqrt(var(NLL) / (n − 1)).
    public var perplexityError: Double {
        guard count > 1 else { return 0 }
        let mean = sum / Double(count)
        let variance = sumOfSquares / Double(count) - mean * mean
        return variance > 0 ? perplexity * (variance / Double(count - 1)).squareRoot() : 0
    }
}

/// The sums llama.cpp's `kl_divergence` keeps, and every position's KLD and Δp for percentiles.
public struct KLDAccumulator: Sendable {
    var sumNLL = 0.0, sumNLL2 = 0.0, sumNLLBase = 0.0, sumNLLBase2 = 0.0, sumNLLProduct = 0.0
    var sumKLD = 0.0, sumKLD2 = 0.0
    var sumDelta = 0.0, sumDelta2 = 0.0, sumDelta4 = 0.0
    var sameTop = 0
    public private(set) var count = 0
    var klds: [Float] = []
    var deltas: [Float] = []

    public init() {}

    public mutating func add(_ p: LogProbRow.Position) {
        sumNLL += p.nll
        sumNLL2 += p.nll * p.nll
        sumNLLBase += p.nllBase
        sumNLLBase2 += p.nllBase * p.nllBase
        sumNLLProduct += p.nll * p.nllBase
        sumKLD += p.kld
        sumKLD2 += p.kld * p.kld
        let delta = Double(p.probabilityDelta)
        sumDelta += delta
        sumDelta2 += delta * delta
        sumDelta4 += delta * delta * delta * delta
        if p.sameTop { sameTop += 1 }
        count += 1
        klds.append(Float(p.kld))
        deltas.append(p.probabilityDelta)
    }

    /// The model's perplexity so far (for progress lines).
    public var perplexity: Double { exp(sumNLL / Double(max(count, 1))) }
    public var meanKLD: Double { sumKLD / Double(max(count, 1)) }

    public func summary() -> KLDSummary { KLDSummary(self) }
}

/// What `llama-perplexity --kl-divergence` prints, under the same names (`docs/perplexity.md` §3).
public struct KLDSummary: Sendable, Equatable {
    public var positions: Int
    public var perplexity: MeanAndError
    public var basePerplexity: MeanAndError
    /// Correlation of the two models' per-position NLL.
    public var correlation: Double
    public var logPerplexityRatio: MeanAndError
    public var perplexityRatio: MeanAndError
    public var perplexityDifference: MeanAndError
    public var kld: MeanAndError
    /// (fraction, value), from 1 (maximum) down to 0 (minimum).
    public var kldPercentiles: [(Double, Double)]
    public var probabilityDelta: MeanAndError
    public var probabilityDeltaPercentiles: [(Double, Double)]
    public var probabilityDeltaRMS: MeanAndError
    public var sameTop: MeanAndError

    public static let kldFractions: [Double] = [1, 0.999, 0.99, 0.95, 0.9, 0.5, 0.1, 0.05, 0.01, 0.001, 0]
    public static let deltaFractions: [Double] = [1, 0.999, 0.99, 0.95, 0.9, 0.75, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001, 0]

    init(_ a: KLDAccumulator) {
        let n = a.count
        positions = n
        let logPPL = MeanAndError(sum: a.sumNLL, sumOfSquares: a.sumNLL2, count: n)
        let logBase = MeanAndError(sum: a.sumNLLBase, sumOfSquares: a.sumNLLBase2, count: n)
        let covariance =
            n < 10 ? 0 : (a.sumNLLProduct / Double(n) - (a.sumNLL / Double(n)) * (a.sumNLLBase / Double(n))) / Double(n - 1)
        let ppl = exp(logPPL.mean), base = exp(logBase.mean)
        perplexity = MeanAndError(mean: ppl, error: ppl * logPPL.error)
        basePerplexity = MeanAndError(mean: base, error: base * logBase.error)
        let errorProduct = logPPL.error * logBase.error
        correlation = errorProduct > 0 ? covariance / errorProduct : 0
        let ratioError = (logPPL.error * logPPL.error + logBase.error * logBase.error - 2 * covariance).squareRoot()
        logPerplexityRatio = MeanAndError(mean: logPPL.mean - logBase.mean, error: ratioError)
        let ratio = exp(logPPL.mean - logBase.mean)
        perplexityRatio = MeanAndError(mean: ratio, error: ratio * ratioError)
        let pplCovariance = ppl * base * covariance
        let differenceError = (perplexity.error * perplexity.error + basePerplexity.error * basePerplexity.error - 2 * pplCovariance)
        perplexityDifference = MeanAndError(mean: ppl - base, error: differenceError > 0 ? differenceError.squareRoot() : 0)
        kld = MeanAndError(sum: a.sumKLD, sumOfSquares: a.sumKLD2, count: n)
        let sortedKLD = a.klds.sorted().map(Double.init)
        kldPercentiles = Self.kldFractions.map { ($0, Comparison.percentile(sortedKLD, $0)) }
        probabilityDelta = MeanAndError(sum: a.sumDelta, sumOfSquares: a.sumDelta2, count: n)
        let sortedDelta = a.deltas.sorted().map(Double.init)
        probabilityDeltaPercentiles = Self.deltaFractions.map { ($0, Comparison.percentile(sortedDelta, $0)) }
        let meanSquare = MeanAndError(sum: a.sumDelta2, sumOfSquares: a.sumDelta4, count: n)
        let rms = meanSquare.mean.squareRoot()
        probabilityDeltaRMS = MeanAndError(mean: rms, error: rms > 0 ? 0.5 / rms * meanSquare.error : 0)
        let same = Double(a.sameTop) / Double(max(n, 1))
        sameTop = MeanAndError(mean: same, error: n > 1 ? (same * (1 - same) / Double(n - 1)).squareRoot() : 0)
    }

    public static func == (a: KLDSummary, b: KLDSummary) -> Bool {
        a.positions == b.positions && a.kld == b.kld && a.perplexity == b.perplexity && a.basePerplexity == b.basePerplexity
            && a.kldPercentiles.map(\.1) == b.kldPercentiles.map(\.1) && a.sameTop == b.sameTop
    }
}
