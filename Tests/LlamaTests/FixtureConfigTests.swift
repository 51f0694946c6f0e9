import Foundation
import LlamaTokenizers
import Testing
import TorchCheckpoint

@testable import Llama

/// The fixture checkpoints (Meta's reference model, tiny) derive the configs they were made with.
@Suite struct FixtureConfigTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    static let cases:
        [(name: String, tokenizer: TokenizerFormat, family: LlamaFamily, kv: Int, ffn: Int, vocab: Int, theta: Double, factor: Double?)] = [
            ("llama2-tiny", .sentencepiece, .llama2, 4, 192, 1000, 10000, nil),
            ("llama2-tiny-mp2", .sentencepiece, .llama2, 4, 192, 1000, 10000, nil),
            ("llama3-tiny", .tiktoken, .llama3, 2, 224, 768, 500000, nil),
            ("llama3-tiny-mp2", .tiktoken, .llama3, 2, 224, 768, 500000, nil),
            ("llama31-tiny", .tiktoken, .llama3_1, 2, 224, 768, 500000, 8),
        ]

    @Test(arguments: cases)
    func derivesTheConfig(
        _ row: (
            name: String, tokenizer: TokenizerFormat, family: LlamaFamily, kv: Int, ffn: Int, vocab: Int, theta: Double, factor: Double?
        )
    ) throws {
        let checkpoint = try CheckpointDirectory.open(Self.root.appendingPathComponent(row.name).path)
        let params = try LlamaParams.load(path: try #require(checkpoint.paramsPath))
        let config = try LlamaConfig(params: params, tensors: checkpoint.source, tokenizer: row.tokenizer)
        #expect(config.family == row.family)
        #expect(config.kvHeadCount == row.kv)
        #expect(config.headDim == 16)
        #expect(config.ffnHiddenSize == row.ffn)
        #expect(config.vocabSize == row.vocab)
        #expect(config.ropeTheta == row.theta)
        #expect(config.ropeScalingFactor == row.factor)
        #expect(config.defaultedKeys.contains("rope_theta") == (row.family == .llama2))
    }
}
