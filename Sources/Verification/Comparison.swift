import Foundation
import TensorCore

/// How close a model's logits are to reference logits over the same tokens
/// (`docs/forward-pass.md` §3, §6): absolute differences, the
/// per-position KL divergence KL(P_ref ‖ Q_model) summed over the vocabulary (never averaged
/// over it), top-1 agreement, and the perplexity of both on the reference's own next tokens.
public struct Comparison: Sendable, Equatable {
    public var positions: Int
    public var maxAbsDiff: Double
    public var meanAbsDiff: Double
    /// max |Δ| divided by the reference's logit range (max − min over all positions).
    public var relativeMaxDiff: Double
    public var referenceRange: Double
    public var meanKLD: Double
    public var p99KLD: Double
    public var maxKLD: Double
    public var top1Agreement: Double
    /// exp(mean NLL of token t+1 under position t), over the T − 1 scored positions; nil for T = 1.
    public var pplReference: Double?
    public var pplModel: Double?

    /// - Parameters: `reference` and `model` are `tokens.count × vocab` row-major.
    public init(reference: [Float], model: [Float], tokens: [Int], vocab: Int) {
        precondition(reference.count == model.count && reference.count == tokens.count * vocab && vocab > 0)
        let t = tokens.count
        var maxAbs = 0.0, sumAbs = 0.0
        var low = Double.infinity, high = -Double.infinity
        var klds: [Double] = []
        var agree = 0
        var nllReference = 0.0, nllModel = 0.0
        for row in 0..<t {
            let p = Self.logSoftmax(reference[(row * vocab)..<((row + 1) * vocab)])
            let q = Self.logSoftmax(model[(row * vocab)..<((row + 1) * vocab)])
            var kld = 0.0
            var bestP = 0, bestQ = 0
            for i in 0..<vocab {
                let r = Double(reference[row * vocab + i]), m = Double(model[row * vocab + i])
                let diff = abs(r - m)
                maxAbs = max(maxAbs, diff.isNaN ? .infinity : diff)
                sumAbs += diff
                low = min(low, r)
                high = max(high, r)
                kld += exp(p[i]) * (p[i] - q[i])
                if p[i] > p[bestP] { bestP = i }
                if q[i] > q[bestQ] { bestQ = i }
            }
            klds.append(max(kld, 0))
            if bestP == bestQ { agree += 1 }
            if row + 1 < t {
                nllReference -= p[tokens[row + 1]]
                nllModel -= q[tokens[row + 1]]
            }
        }
        positions = t
        maxAbsDiff = maxAbs
        meanAbsDiff = sumAbs / Double(t * vocab)
        referenceRange = high - low
        relativeMaxDiff = referenceRange > 0 ? maxAbs / referenceRange : maxAbs
        meanKLD = klds.reduce(0, +) / Double(t)
        let sorted = klds.sorted()
        p99KLD = Self.percentile(sorted, 0.99)
        maxKLD = sorted.last ?? 0
        top1Agreement = Double(agree) / Double(t)
        pplReference = t > 1 ? exp(nllReference / Double(t - 1)) : nil
        pplModel = t > 1 ? exp(nllModel / Double(t - 1)) : nil
    }

    /// Linear interpolation between closest ranks (llama.cpp's percentiles).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard let first = sorted.first else { return 0 }
        guard sorted.count > 1 else { return first }
        let position = fraction * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    /// log softmax in Double, max-subtracted.
    static func logSoftmax(_ logits: ArraySlice<Float>) -> [Double] {
        let maximum = Double(logits.max() ?? 0)
        var sum = 0.0
        for value in logits { sum += exp(Double(value) - maximum) }
        let logSum = log(sum) + maximum
        return logits.map { Double($0) - logSum }
    }
}
