import Foundation
import TensorCore
import Testing
import TorchCheckpoint

@testable import Llama

/// Llama 3.2 1B/3B scale RoPE by 32 where 3.1 scales by 8. Goldens from Meta's code
/// (fixtures/goldens/make_goldens.py): `precompute_freqs_cis` with `apply_scaling`, and Meta's
/// `Transformer` on fixtures/llama31-tiny over 320 positions, with each factor.
@Suite struct RopeScalingTests {
    struct Golden: Decodable {
        struct Frequencies: Decodable {
            var head_dim: Int
            var factor: Double
            var values: [Float]
        }
        struct Logits: Decodable {
            var tokens: [Int]
            var last_logits: [String: [Float]]
        }
        var theta: Double
        var frequencies: [Frequencies]
        var llama31_tiny: Logits
    }

    static let golden: Golden = {
        let url = FixtureConfigTests.root.appendingPathComponent("goldens/rope_scaling.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    /// Llama 3.2 1B's params.json: its identity (dim 2048, 16 layers, use_scaled_rope) gives 32.
    @Test func theLlama32IdentityGivesFactor32() throws {
        let params = try LlamaParams.parse(
            Array(
                #"{"dim": 2048, "n_layers": 16, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 256, "ffn_dim_multiplier": 1.5, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true}"#
                    .utf8))
        // Only the shapes matter here (the embedding gives the vocabulary); the factor is not stated.
        let shapes = try LlamaConfig(
            family: .llama3, dim: 2048, layerCount: 16, headCount: 32, kvHeadCount: 8, ffnHiddenSize: 8192, vocabSize: 128_256,
            normEps: 1e-5, ropeTheta: 500_000, ropeScalingFactor: nil, contextLength: 8192)
        let source = ShapeOnlySource(shapes)
        let config = try LlamaConfig(params: params, tensors: source, tokenizer: .tiktoken, validate: false)
        #expect(config.family == .llama3_2)
        #expect(config.ropeScalingFactor == 32)
        let model = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, scalingFactor: config.ropeScalingFactor)
        let meta = try #require(Self.golden.frequencies.first { $0.head_dim == 64 && $0.factor == 32 })
        #expect(zip(model.frequencies, meta.values).allSatisfy { abs($0 - $1) <= 4 * $1.ulp })
    }

    @Test func frequenciesEqualMetasForFactors8And32() throws {
        #expect(Self.golden.frequencies.count == 6)
        for row in Self.golden.frequencies {
            let rope = RotaryEmbedding(headDim: row.head_dim, theta: Self.golden.theta, scalingFactor: row.factor)
            #expect(rope.frequencies.count == row.values.count)
            for (i, (ours, meta)) in zip(rope.frequencies, row.values).enumerated() {
                // Float32 throughout, as Meta; powf and torch.pow may differ in the last bits.
                #expect(abs(ours - meta) <= 4 * meta.ulp, "hd \(row.head_dim) factor \(row.factor) pair \(i): \(ours) vs \(meta)")
            }
        }
        // The two factors differ exactly where the wavelength passes 2048 (the scaled band).
        let by8 = RotaryEmbedding(headDim: 128, theta: 500_000, scalingFactor: 8).frequencies
        let by32 = RotaryEmbedding(headDim: 128, theta: 500_000, scalingFactor: 32).frequencies
        for (f8, f32) in zip(by8, by32) {
            let wavelength = 2 * Float.pi / f32
            if wavelength < 2048 { #expect(f8 == f32) } else { #expect(f8 > f32) }
        }
    }

    /// The forward pass takes its frequencies from the config's factor: with 32 it gives Meta's
    /// factor-32 logits, with 8 Meta's factor-8 logits, and the two differ by far more than the
    /// tolerance over 320 positions.
    @Test(arguments: [8.0, 32.0])
    func forwardPassUsesTheScalingFactor(_ factor: Double) throws {
        let directory = try CheckpointDirectory.open(FixtureConfigTests.root.appendingPathComponent("llama31-tiny").path)
        var config = try LlamaConfig(
            params: try LlamaParams.load(path: try #require(directory.paramsPath)), tensors: directory.source, tokenizer: .tiktoken)
        config.ropeScalingFactor = factor
        let tokens = Self.golden.llama31_tiny.tokens
        let model = try LlamaModel(config: config, source: directory.source, maxSequenceLength: tokens.count)
        let logits = try model.forward(tokens, logits: .last)
        let same = try #require(Self.golden.llama31_tiny.last_logits[factor == 8 ? "8" : "32"])
        let other = try #require(Self.golden.llama31_tiny.last_logits[factor == 8 ? "32" : "8"])
        #expect(LlamaModelTests.maxAbsDiff(logits, same) <= 1e-4, "max |Δlogit| \(LlamaModelTests.maxAbsDiff(logits, same))")
        #expect(LlamaModelTests.maxAbsDiff(logits, other) > 1e-2)
    }
}
