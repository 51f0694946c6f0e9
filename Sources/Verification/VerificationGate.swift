import TensorCore

/// PASS/FAIL thresholds, chosen by the model's weight type (`docs/forward-pass.md` §6).
public struct VerificationGate: Sendable, Equatable {
    /// "exact", "q8_0", "q4_0" — or "custom" once a flag overrides a threshold.
    public var name: String
    public var maxRelativeDiff: Double?
    public var minTop1: Double?
    public var maxMeanKLD: Double?

    public init(name: String, maxRelativeDiff: Double? = nil, minTop1: Double? = nil, maxMeanKLD: Double? = nil) {
        self.name = name
        self.maxRelativeDiff = maxRelativeDiff
        self.minTop1 = minTop1
        self.maxMeanKLD = maxMeanKLD
    }

    /// Exact-weight sources (f32, f16, bf16): max |Δ| ≤ 1e-4 of the logit range, top-1 100 %.
    /// Q8_0: mean KLD ≤ 2e-3 (llama.cpp measured 1.4e-3 on Llama 3 8B). Q4_0: mean KLD ≤ 0.1
    /// (llama.cpp measured 0.072 on Llama 3 8B; Q4_0 is a lossy format).
    public static func forWeights(_ type: DType) -> VerificationGate {
        switch type {
        case .q8_0: return VerificationGate(name: "q8_0", maxMeanKLD: 2e-3)
        case .q4_0: return VerificationGate(name: "q4_0", maxMeanKLD: 0.1)
        default: return VerificationGate(name: "exact", maxRelativeDiff: 1e-4, minTop1: 1)
        }
    }

    /// This gate with any given threshold replaced; named "custom" when one is.
    public func overriding(maxRelativeDiff: Double?, minTop1: Double?, maxMeanKLD: Double?) -> VerificationGate {
        guard maxRelativeDiff != nil || minTop1 != nil || maxMeanKLD != nil else { return self }
        var gate = self
        gate.name = "custom"
        if let maxRelativeDiff { gate.maxRelativeDiff = maxRelativeDiff }
        if let minTop1 { gate.minTop1 = minTop1 }
        if let maxMeanKLD { gate.maxMeanKLD = maxMeanKLD }
        return gate
    }

    /// Each failed condition, spelled out; empty means PASS.
    public func failures(_ c: Comparison) -> [String] {
        var out: [String] = []
        if let limit = maxRelativeDiff, !(c.relativeMaxDiff <= limit) {
            out.append("max |Δlogit| / logit range = \(c.relativeMaxDiff) > \(limit)")
        }
        if let limit = minTop1, !(c.top1Agreement >= limit) { out.append("top-1 agreement \(c.top1Agreement) < \(limit)") }
        if let limit = maxMeanKLD, !(c.meanKLD <= limit) { out.append("mean KLD \(c.meanKLD) > \(limit)") }
        return out
    }
}
