import Foundation
import TensorCore
import Testing
import TorchCheckpoint

@testable import Llama

/// Llama 3.2 1B/3B tie the output projection to the embedding: converted files omit
/// `output.weight`, and the forward pass then projects with `tok_embeddings.weight`.
@Suite struct TiedOutputTests {
    static func logits(_ source: any TensorSource, config: LlamaConfig, tokens: [Int]) throws -> [Float] {
        try LlamaModel(config: config, source: source, maxSequenceLength: tokens.count).forward(tokens)
    }

    @Test func withoutOutputWeightTheEmbeddingProjects() throws {
        let directory = try CheckpointDirectory.open(FixtureConfigTests.root.appendingPathComponent("llama31-tiny").path)
        let config = try LlamaConfig(
            params: try LlamaParams.load(path: try #require(directory.paramsPath)), tensors: directory.source, tokenizer: .tiktoken)
        let tokens = Array(try LlamaModelTests.reference("llama31-tiny").tokens.prefix(24))
        let untied = try Self.logits(directory.source, config: config, tokens: tokens)
        let missing = try Self.logits(RemappedSource(directory.source, hiding: ["output.weight"]), config: config, tokens: tokens)
        let tied = try Self.logits(
            RemappedSource(directory.source, aliasing: ["output.weight": "tok_embeddings.weight"]), config: config, tokens: tokens)
        // The fixture's output differs from its embedding, so the projection decides the logits.
        #expect(LlamaModelTests.maxAbsDiff(untied, tied) > 0.1)
        #expect(missing == tied)
    }
}
