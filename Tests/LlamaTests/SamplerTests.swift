import Foundation
import Testing

@testable import Llama

/// Nucleus sampling against Meta's `sample_top_p` (llama-models 0.3.0): fixtures/goldens/
/// make_goldens.py ran Meta's function with `torch.multinomial` replaced by an inverse-CDF pick
/// for a fixed uniform draw u, so the token for each u is Meta's.
@Suite struct SamplerTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            struct Draw: Decodable {
                var u: Double
                var token: Int
            }
            var logits: [Float]
            var temperature: Float
            var top_p: Float
            var kept: [Int]
            var probabilities: [Double]
            var draws: [Draw]
        }
        var cases: [Case]
    }

    static let golden: Golden = {
        let url = FixtureConfigTests.root.appendingPathComponent("goldens/top_p.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    @Test func aFixedDrawPicksMetasToken() throws {
        #expect(Self.golden.cases.count == 7)
        for (index, row) in Self.golden.cases.enumerated() {
            let sampler = Sampler(temperature: row.temperature, topP: row.top_p, seed: 1)
            #expect(row.draws.map(\.token) == row.kept, "case \(index)")
            for draw in row.draws {
                #expect(sampler.sample(row.logits[...], draw: draw.u) == draw.token, "case \(index): u = \(draw.u)")
            }
            // The ends of [0, 1) pick the most likely and the least likely token of the nucleus.
            #expect(sampler.sample(row.logits[...], draw: 0) == row.kept.first)
            #expect(sampler.sample(row.logits[...], draw: 1 - 1e-12) == row.kept.last)
        }
    }

    /// The seeded generator draws from Meta's nucleus: never a token outside it, and each kept
    /// token about as often as Meta's renormalised probability says.
    @Test func seededRunsDrawFromMetasDistribution() throws {
        for (index, row) in Self.golden.cases.enumerated() {
            var sampler = Sampler(temperature: row.temperature, topP: row.top_p, seed: 42)
            let draws = 4_000
            var counts: [Int: Int] = [:]
            for _ in 0..<draws { counts[sampler.sample(row.logits[...]), default: 0] += 1 }
            #expect(Set(counts.keys).isSubset(of: Set(row.kept)), "case \(index): \(counts)")
            for (token, probability) in zip(row.kept, row.probabilities) {
                let frequency = Double(counts[token, default: 0]) / Double(draws)
                // 4,000 draws: a standard deviation of at most 0.008.
                #expect(abs(frequency - probability) < 0.04, "case \(index) token \(token): \(frequency) vs \(probability)")
            }
        }
    }

    @Test func temperatureZeroIsArgmaxWithTiesToTheLowestID() {
        var sampler = Sampler(temperature: 0, topP: 0.9, seed: 3)
        #expect(sampler.sample([0.5, 2, -1, 2][...]) == 1)
        #expect(sampler.sample([1, 2, 3, 4, 5][1...]) == 3)
    }
}
