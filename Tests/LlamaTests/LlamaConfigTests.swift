import BinaryIO
import Foundation
import LlamaTokenizers
import TensorCore
import Testing

@testable import Llama

/// A source that only knows names and shapes: enough for config validation.
final class ShapeOnlySource: TensorSource {
    let tensorInfos: [TensorInfo]
    init(_ config: LlamaConfig, replacing overrides: [String: [Int]?] = [:], ropeFreqs: Bool = false) {
        var infos = config.expectedShapes.compactMap { name, shape -> TensorInfo? in
            if let override = overrides[name] {
                return override.map { TensorInfo(name: name, dtype: .bf16, shape: $0, location: "") }
            }
            return TensorInfo(name: name, dtype: .bf16, shape: shape, location: "")
        }
        if ropeFreqs { infos.append(TensorInfo(name: "rope.freqs", dtype: .f32, shape: [config.headDim / 2], location: "")) }
        tensorInfos = infos
    }
    func info(named name: String) -> TensorInfo? { tensorInfos.first { $0.name == name } }
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        throw InputError(.unsupported, "shape-only source", at: .tensor(name))
    }
}

@Suite struct LlamaConfigTests {
    /// `docs/formats.md` §2.3 worked examples.
    static let ffn: [(dim: Int, multipleOf: Int, multiplier: Double?, expected: Int)] = [
        (4096, 256, nil, 11008),  // Llama 2 7B
        (5120, 256, nil, 13824),  // Llama 2 13B
        (8192, 4096, 1.3, 28672),  // Llama 2 70B
        (4096, 1024, 1.3, 14336),  // Llama 3 8B
        (8192, 1024, 1.3, 28672),  // Llama 3 70B, the public copy with multiple_of 1024
        (16384, 4096, 1.2, 53248),  // Llama 3.1 405B
        (2048, 256, 1.5, 8192),  // Llama 3.2 1B
        (3072, 256, 1.0, 8192),  // Llama 3.2 3B
        (8192, 256, 1.3, 28416),  // the llama.cpp #2276 bug value, for contrast
    ]

    @Test(arguments: ffn)
    func metaFeedForwardFormula(_ row: (dim: Int, multipleOf: Int, multiplier: Double?, expected: Int)) {
        #expect(LlamaConfig.ffnHiddenSize(dim: row.dim, multipleOf: row.multipleOf, ffnDimMultiplier: row.multiplier) == row.expected)
    }

    /// The real params.json of every family (`docs/formats.md` §2.2) → family, derived sizes, rope, context.
    static let released:
        [(
            json: String, tokenizer: TokenizerFormat, vocab: Int, family: LlamaFamily, kv: Int, headDim: Int, ffn: Int, theta: Double,
            factor: Double?, context: Int
        )] = [
            (
                #"{"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05, "vocab_size": -1}"#, .sentencepiece,
                32000, .llama2, 32, 128, 11008, 10000, nil, 4096
            ),
            (
                #"{"dim": 8192, "multiple_of": 4096, "ffn_dim_multiplier": 1.3, "n_heads": 64, "n_kv_heads": 8, "n_layers": 80, "norm_eps": 1e-05, "vocab_size": -1}"#,
                .sentencepiece, 32000, .llama2, 8, 128, 28672, 10000, nil, 4096
            ),
            (
                #"{"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-06, "vocab_size": -1}"#, .sentencepiece,
                32000, .llama1, 32, 128, 11008, 10000, nil, 2048
            ),
            (
                #"{"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0}"#,
                .tiktoken, 128256, .llama3, 8, 128, 14336, 500000, nil, 8192
            ),
            (
                #"{"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true}"#,
                .tiktoken, 128256, .llama3_1, 8, 128, 14336, 500000, 8, 131072
            ),
            (
                #"{"dim": 2048, "n_layers": 16, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 256, "ffn_dim_multiplier": 1.5, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true}"#,
                .tiktoken, 128256, .llama3_2, 8, 64, 8192, 500000, 32, 131072
            ),
            (
                #"{"dim": 3072, "n_layers": 28, "n_heads": 24, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 256, "ffn_dim_multiplier": 1.0, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true}"#,
                .tiktoken, 128256, .llama3_2, 8, 128, 8192, 500000, 32, 131072
            ),
        ]

    @Test(arguments: released)
    func releasedFamilies(
        _ row: (
            json: String, tokenizer: TokenizerFormat, vocab: Int, family: LlamaFamily, kv: Int, headDim: Int, ffn: Int, theta: Double,
            factor: Double?, context: Int
        )
    ) throws {
        let params = try LlamaParams.parse(Array(row.json.utf8))
        // Build the matching tensor table from the expected derivation, then derive from it.
        var probe = try LlamaConfig(
            params: params, tensors: EmbeddingOnly(rows: row.vocab, dim: params.dim), tokenizer: row.tokenizer, validate: false)
        probe.vocabSize = row.vocab
        let config = try LlamaConfig(params: params, tensors: ShapeOnlySource(probe), tokenizer: row.tokenizer)
        #expect(config.family == row.family)
        #expect(config.kvHeadCount == row.kv)
        #expect(config.headDim == row.headDim)
        #expect(config.ffnHiddenSize == row.ffn)
        #expect(config.vocabSize == row.vocab)
        #expect(config.ropeTheta == row.theta)
        #expect(config.ropeScalingFactor == row.factor)
        #expect(config.contextLength == row.context)
    }

    static func tinyLlama3() throws -> LlamaConfig {
        let params = LlamaParams(
            dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 768, multipleOf: 32, ffnDimMultiplier: 1.3, normEps: 1e-5,
            ropeTheta: 500000)
        return try LlamaConfig(params: params, tensors: EmbeddingOnly(rows: 768, dim: 64), tokenizer: .tiktoken, validate: false)
    }

    static let mismatches: [(name: String, shape: [Int]?, message: String)] = [
        ("layers.1.attention.wk.weight", [64, 64], "tensor 'layers.1.attention.wk.weight': expected shape [32, 64], found [64, 64]"),
        (
            "layers.0.feed_forward.w1.weight", [256, 64],
            "tensor 'layers.0.feed_forward.w1.weight': expected shape [224, 64] (Meta's FFN formula"
        ),
        ("norm.weight", nil, "tensor 'norm.weight': missing"),
        ("output.weight", [768, 32], "tensor 'output.weight': expected shape [768, 64], found [768, 32]"),
    ]

    @Test(arguments: mismatches)
    func shapeMismatchesNameTheTensor(_ row: (name: String, shape: [Int]?, message: String)) throws {
        let config = try Self.tinyLlama3()
        let source = ShapeOnlySource(config, replacing: [row.name: row.shape])
        let params = LlamaParams(
            dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 768, multipleOf: 32, ffnDimMultiplier: 1.3, normEps: 1e-5,
            ropeTheta: 500000)
        let error = #expect(throws: InputError.self) { _ = try LlamaConfig(params: params, tensors: source, tokenizer: .tiktoken) }
        #expect(error?.description.hasPrefix(row.message) == true, "\(error?.description ?? "none")")
    }

    @Test func vocabSizeMustMatchTheEmbedding() throws {
        let config = try Self.tinyLlama3()
        let params = LlamaParams(
            dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 1000, multipleOf: 32, ffnDimMultiplier: 1.3, ropeTheta: 500000)
        let error = #expect(throws: InputError.self) {
            _ = try LlamaConfig(params: params, tensors: ShapeOnlySource(config), tokenizer: .tiktoken)
        }
        #expect(error?.description == "tensor 'tok_embeddings.weight': expected shape [1000, 64] (params.json vocab_size), found [768, 64]")
    }

    @Test func unexpectedTensorsAreNamed() throws {
        let config = try Self.tinyLlama3()
        final class Extra: TensorSource {
            let base: ShapeOnlySource
            init(_ base: ShapeOnlySource) { self.base = base }
            var tensorInfos: [TensorInfo] {
                base.tensorInfos + [TensorInfo(name: "layers.2.ffn_norm.weight", dtype: .bf16, shape: [64], location: "")]
            }
            func info(named name: String) -> TensorInfo? { tensorInfos.first { $0.name == name } }
            func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R { fatalError() }
        }
        let error = #expect(throws: InputError.self) { try config.validate(against: Extra(ShapeOnlySource(config))) }
        #expect(error?.description == "tensor 'layers.2.ffn_norm.weight': unexpected: not part of a 2-layer Llama model")
    }

    static let badParams: [(json: String, message: String)] = [
        (#"{"n_layers": 2, "n_heads": 4}"#, "key 'dim': required key is missing"),
        (#"{"dim": "64", "n_layers": 2, "n_heads": 4}"#, "key 'dim': expected an integer"),
        (#"{"dim": 64, "n_layers": 2, "n_heads": 4"#, "not valid JSON"),
        (#"{"dim": 64, "n_layers": 2, "n_heads": 4, "use_scaled_rope": 3}"#, "key 'use_scaled_rope': expected true or false"),
    ]

    @Test(arguments: badParams)
    func badParamsJSON(_ row: (json: String, message: String)) {
        let error = #expect(throws: InputError.self) { _ = try LlamaParams.parse(Array(row.json.utf8)) }
        #expect(error?.description.contains(row.message) == true, "\(error?.description ?? "none")")
    }

    static let badValues: [(params: LlamaParams, message: String)] = [
        (LlamaParams(dim: 0, nLayers: 2, nHeads: 4), "dim 0 is outside"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 5), "dim 64 is not divisible by n_heads 5"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 3), "n_heads 4 is not a multiple of n_kv_heads 3"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 0), "not a multiple of n_kv_heads 0"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 4, multipleOf: 0), "multiple_of 0 is outside"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 4, normEps: -1), "norm_eps -1.0 is outside"),
        (LlamaParams(dim: 64, nLayers: 2, nHeads: 4, ropeTheta: .infinity), "rope_theta inf must be"),
        (LlamaParams(dim: Int.max, nLayers: 2, nHeads: 1), "dim \(Int.max) is outside"),
    ]

    @Test(arguments: badValues)
    func outOfRangeValuesAreRefusedBeforeAnyArithmetic(_ row: (params: LlamaParams, message: String)) {
        let error = #expect(throws: InputError.self) {
            _ = try LlamaConfig(params: row.params, tensors: EmbeddingOnly(rows: 10, dim: 64), tokenizer: nil)
        }
        #expect(error?.message.contains(row.message) == true, "\(error?.description ?? "none")")
    }
}

/// A source with only the embedding, to derive a config without validating the rest.
final class EmbeddingOnly: TensorSource {
    let tensorInfos: [TensorInfo]
    init(rows: Int, dim: Int) { tensorInfos = [TensorInfo(name: "tok_embeddings.weight", dtype: .bf16, shape: [rows, dim], location: "")] }
    func info(named name: String) -> TensorInfo? { tensorInfos.first { $0.name == name } }
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        throw InputError(.unsupported, "shape-only")
    }
}
