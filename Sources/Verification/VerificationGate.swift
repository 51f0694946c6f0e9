import Conversion
import TensorCore

/// PASS/FAIL thresholds, chosen by the model's weight type (`docs/forward-pass.md` §6).
public struct VerificationGate: Sendable, Equatable {
    /// "exact" or the preset's name ("q4_k_m") — or "custom" once a flag overrides a threshold.
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
    public static let exact = VerificationGate(name: "exact", maxRelativeDiff: 1e-4, minTop1: 1)

    /// The mean-KLD gate of each lossy preset: llama.cpp's published KLD against FP16 for
    /// Llama 3 8B without an importance matrix (its `tools/perplexity` scoreboard), times about
    /// 1.5, so a correct file passes and a wrong mix or a broken block does not
    /// (`docs/forward-pass.md` §6).
    public static let meanKLDLimits: [ConversionType: Double] = [
        .q8_0: 2e-3, .q6_K: 8e-3, .q5_K_M: 0.016, .q5_K_S: 0.025, .q5_1: 0.027, .q5_0: 0.033, .q4_K_M: 0.047, .q4_K_S: 0.065,
        .q4_1: 0.11, .q4_0: 0.1, .q3_K_L: 0.13, .q3_K_M: 0.15, .q3_K_S: 0.34, .q2_K: 0.67,
    ]

    /// The gate of a file written with `preset`.
    public static func forPreset(_ preset: ConversionType) -> VerificationGate {
        guard let limit = meanKLDLimits[preset] else { return exact }
        return VerificationGate(name: preset.rawValue, maxMeanKLD: limit)
    }

    /// The gate of a file of `fileType` (`general.file_type`) whose layers are `weights`: the
    /// preset's when the file type is one, otherwise the pure preset of the weight type.
    public static func forFile(fileType: UInt32?, weights: DType) -> VerificationGate {
        if let fileType, let preset = ConversionType.allCases.first(where: { $0.fileType == fileType }) { return forPreset(preset) }
        return forWeights(weights)
    }

    /// The gate for a model whose layers are stored as `type`, taking the preset that stores
    /// them so throughout.
    public static func forWeights(_ type: DType) -> VerificationGate {
        let preset: ConversionType? =
            switch type {
            case .q8_0: .q8_0
            case .q4_0: .q4_0
            case .q4_1: .q4_1
            case .q5_0: .q5_0
            case .q5_1: .q5_1
            case .q2_K: .q2_K
            case .q3_K: .q3_K_S
            case .q4_K: .q4_K_S
            case .q5_K: .q5_K_S
            case .q6_K: .q6_K
            default: nil
            }
        return preset.map(forPreset) ?? exact
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
