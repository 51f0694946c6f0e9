import BinaryIO
import Foundation
import TensorCore
import Testing
import TorchCheckpoint

@testable import Llama

/// The forward pass against Meta's reference `Transformer` (llama-models 0.3.0, float32), whose
/// logits fixtures/make_reference.py stored beside each fixture checkpoint.
@Suite struct LlamaModelTests {
    static let root = FixtureConfigTests.root

    struct Reference {
        let tokens: [Int]
        let logits: [Float]
        let vocab: Int
    }

    static func reference(_ name: String) throws -> Reference {
        let dir = root.appendingPathComponent(name).appendingPathComponent("reference")
        let tokens = try NumpyArray.load(path: dir.appendingPathComponent("tokens.npy").path)
        let logits = try NumpyArray.load(path: dir.appendingPathComponent("logits.npy").path)
        return Reference(tokens: try #require(tokens.integers()), logits: try #require(logits.floats()), vocab: logits.shape[1])
    }

    static func model(_ name: String, maxSequenceLength: Int = 512, threads: Int = 1) throws -> LlamaModel {
        let checkpoint = try CheckpointDirectory.open(root.appendingPathComponent(name).path)
        let params = try LlamaParams.load(path: try #require(checkpoint.paramsPath))
        let kind: TokenizerKind = name.hasPrefix("llama2") ? .sentencepiece : .tiktoken
        let config = try LlamaConfig(params: params, tensors: checkpoint.source, tokenizer: kind)
        return try LlamaModel(config: config, source: checkpoint.source, maxSequenceLength: maxSequenceLength, threads: threads)
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Sharded sets must give the unsharded model's logits (its reference), merged on the fly.
    static let cases: [(checkpoint: String, reference: String)] = [
        ("llama2-tiny", "llama2-tiny"), ("llama2-tiny-mp2", "llama2-tiny"), ("llama3-tiny", "llama3-tiny"),
        ("llama3-tiny-mp2", "llama3-tiny"), ("llama31-tiny", "llama31-tiny"), ("demo", "demo"),
    ]

    @Test(arguments: cases)
    func fullPassMatchesMetasLogits(_ row: (checkpoint: String, reference: String)) throws {
        let reference = try Self.reference(row.reference)
        let model = try Self.model(row.checkpoint)
        let logits = try model.forward(reference.tokens)
        #expect(logits.count == reference.logits.count)
        let diff = Self.maxAbsDiff(logits, reference.logits)
        #expect(diff <= 1e-4, "max |Δlogit| \(diff)")
    }

    @Test(arguments: ["llama2-tiny", "llama31-tiny", "demo"])
    func kvCacheDecodeMatchesTheFullPass(_ name: String) throws {
        let reference = try Self.reference(name)
        let tokens = Array(reference.tokens.prefix(48))
        let full = try Self.model(name).forward(tokens)
        let model = try Self.model(name, threads: 2)
        // A prompt block of 20, then one token at a time.
        var incremental = try model.forward(Array(tokens[0..<20]))
        for token in tokens[20...] { incremental += try model.forward([token]) }
        #expect(model.position == tokens.count)
        let diff = Self.maxAbsDiff(full, incremental)
        #expect(diff <= 1e-4, "max |Δlogit| \(diff)")
        // Only the last row, when asked.
        model.reset()
        let last = try model.forward(tokens, logits: .last)
        #expect(Self.maxAbsDiff(last, Array(full.suffix(model.config.vocabSize))) <= 1e-5)
    }

    @Test func refusesTokensOutsideTheVocabularyAndTooLongSequences() throws {
        let model = try Self.model("llama3-tiny", maxSequenceLength: 8)
        #expect(throws: InputError.self) { _ = try model.forward([1, 768]) }
        #expect(throws: InputError.self) { _ = try model.forward([-1]) }
        #expect(throws: InputError.self) { _ = try model.forward(Array(repeating: 1, count: 9)) }
        #expect(model.position == 0)
    }
}
