import Foundation

/// Picks the next token from logits: greedy at temperature 0 (ties to the lowest id, as
/// `torch.argmax`), otherwise softmax(logits / T) cut to the smallest set of tokens whose
/// probability reaches `topP` (Meta's `sample_top_p`), sampled with a seeded generator so a
/// seed reproduces a run.
public struct Sampler: Sendable {
    public let temperature: Float
    public let topP: Float
    private var state: UInt64

    public init(temperature: Float, topP: Float, seed: UInt64) {
        self.temperature = temperature
        self.topP = topP
        state = seed
    }

    /// SplitMix64: small, fast, and the same on every platform.
    private mutating func nextUnit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    public mutating func sample(_ logits: ArraySlice<Float>) -> Int {
        sample(logits, draw: temperature > 0 ? nextUnit() : 0)
    }

    /// The token that the uniform draw `draw` in [0, 1) picks: the inverse of the nucleus's
    /// cumulative distribution, most likely token first (ignored at temperature 0).
    public func sample(_ logits: ArraySlice<Float>, draw: Double) -> Int {
        let base = logits.startIndex
        if temperature <= 0 {
            var best = base
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return best - base
        }
        let maximum = logits.max() ?? 0
        var probabilities = logits.map { Double(expf(($0 - maximum) / temperature)) }
        let total = probabilities.reduce(0, +)
        for i in probabilities.indices { probabilities[i] /= total }
        let order = probabilities.indices.sorted {
            probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
        }
        var kept: [Int] = []
        var mass = 0.0
        for index in order {
            // Meta: keep tokens whose preceding cumulative mass is ≤ top_p.
            if mass > Double(topP) && !kept.isEmpty { break }
            kept.append(index)
            mass += probabilities[index]
        }
        var target = draw * mass
        for index in kept {
            target -= probabilities[index]
            if target < 0 { return index }
        }
        return kept.last!
    }
}
