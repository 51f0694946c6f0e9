import BinaryIO
import Foundation
import LlamaTokenizers
import TensorCore
import Testing
import TorchCheckpoint

@testable import Llama
@testable import Verification

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
        let kind: TokenizerFormat = name.hasPrefix("llama2") ? .sentencepiece : .tiktoken
        let config = try LlamaConfig(params: params, tensors: checkpoint.source, tokenizer: kind)
        return try LlamaModel(config: config, source: checkpoint.source, maxSequenceLength: maxSequenceLength, threads: threads)
    }

    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Sharded sets must give the unsharded model's logits (its reference), merged on the fly.
    static let cases: [(checkpoint: String, reference: String)] = [
        ("llama2-tiny", "llama2-tiny"), ("llama2-tiny-mp2", "llama2-tiny"), ("llama3-tiny", "llama3-tiny"),
        ("llama3-tiny-mp2", "llama3-tiny"), ("llama31-tiny", "llama31-tiny"), ("demo", "demo"), ("k256", "k256"),
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

/// Each bug signature of `docs/forward-pass.md` §5, injected into a correct model: the
/// exact gate `verify` applies to f32/bf16 sources must FAIL, while the correct model PASSes.
@Suite struct BugSignatureTests {
    enum Bug: String, CaseIterable, Sendable {
        case none, halfSplitRoPE, theta10000, moduloGQA, normEps1e6, scalingOff
    }

    static func comparison(_ bug: Bug, checkpoint: String) throws -> Comparison {
        let reference = try LlamaModelTests.reference(checkpoint)
        let correct = try LlamaModelTests.model(checkpoint)
        var config = correct.config
        switch bug {
        case .theta10000: config.ropeTheta = 10_000
        case .normEps1e6: config.normEps = 1e-6
        case .scalingOff: config.ropeScalingFactor = nil
        default: break
        }
        let directory = try CheckpointDirectory.open(LlamaModelTests.root.appendingPathComponent(checkpoint).path)
        let model = try LlamaModel(config: config, source: directory.source, maxSequenceLength: 512)
        model.faults.halfSplitRoPE = bug == .halfSplitRoPE
        model.faults.moduloGQA = bug == .moduloGQA
        let logits = try model.forward(reference.tokens)
        return Comparison(reference: reference.logits, model: logits, tokens: reference.tokens, vocab: reference.vocab)
    }

    /// llama31-tiny: GQA (4 heads on 2 KV heads), theta 500000, use_scaled_rope, 300 positions.
    @Test(arguments: Bug.allCases)
    func exactGateCatchesTheBug(_ bug: Bug) throws {
        let comparison = try Self.comparison(bug, checkpoint: "llama31-tiny")
        let failures = VerificationGate.forWeights(.bf16).failures(comparison)
        if bug == .none {
            #expect(failures.isEmpty, "\(failures)")
            #expect(comparison.maxAbsDiff <= 1e-4)
        } else {
            #expect(!failures.isEmpty, "\(bug) passed: max |Δ| \(comparison.maxAbsDiff), KLD \(comparison.meanKLD)")
        }
    }

    @Test func comparisonStatisticsOnKnownValues() {
        // Two positions, vocab 2: identical first row, second row swapped.
        let reference: [Float] = [0, 1, 2, 0]
        let model: [Float] = [0, 1, 0, 2]
        let c = Comparison(reference: reference, model: model, tokens: [0, 1], vocab: 2)
        #expect(c.maxAbsDiff == 2)
        #expect(c.meanAbsDiff == 1)
        #expect(c.top1Agreement == 0.5)
        // KL(P‖Q) for P = softmax(2, 0) = (p, 1 − p), Q = softmax(0, 2) = (1 − p, p).
        let p = 1 / (1 + exp(-2.0))
        #expect(abs(c.maxKLD - (p * log(p / (1 - p)) + (1 - p) * log((1 - p) / p))) < 1e-12)
        #expect(abs(c.meanKLD - c.maxKLD / 2) < 1e-12)
        // PPL on next tokens: position 0 predicts token 1 with probability σ(1) in both.
        #expect(abs(c.pplReference! - 1 / (1 / (1 + exp(-1.0)))) < 1e-12)
        #expect(c.pplReference == c.pplModel)
        #expect(Comparison.percentile([0, 1, 2, 3, 4], 0.99) == 3.96)
    }
}
