import BinaryIO
import Foundation
import GGUF
import Llama
import LlamaTokenizers
import Testing
import TorchCheckpoint

@testable import Conversion
@testable import ModelLoading

/// Reading a converted GGUF back as a model: the tokenizer rebuilt from its metadata, the config
/// from its `llama.*` keys, RoPE from `rope_freqs`.
@Suite struct GGUFModelTests {
    static let texts = [
        "Hello world", " leading space", "The quick brown fox.\n\nNew paragraph\twith tab", "naïve café — 日本語 🙂", "1234567 + 89",
        "  ", "",
    ]

    @Test(arguments: ["llama2-tiny", "llama3-tiny", "llama31-tiny", "demo"])
    func tokenizerFromMetadataEncodesAsTheOriginal(_ checkpoint: String) throws {
        let (_, path) = try ConversionTests.convert(checkpoint, .bf16)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let original = try TokenizerLoader.load(
            path: ConversionTests.fixtures.appendingPathComponent(checkpoint).appendingPathComponent("tokenizer.model").path)
        let rebuilt = try GGUFTokenizer.load(from: try GGUFSplitSet(path: path))
        #expect(rebuilt.vocabularySize == original.vocabularySize)
        #expect(rebuilt.bosID == original.bosID && rebuilt.eosID == original.eosID)
        for text in Self.texts {
            let ids = original.encode(text, bos: true, eos: false, allowSpecial: false)
            #expect(rebuilt.encode(text, bos: true, eos: false, allowSpecial: false) == ids, "\(text)")
            #expect(try rebuilt.decode(ids) == (try original.decode(ids)))
        }
    }

    @Test(arguments: ["llama2-tiny", "llama31-tiny"])
    func configFromMetadataEqualsTheCheckpoints(_ checkpoint: String) throws {
        let (_, path) = try ConversionTests.convert(checkpoint, .f32)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let opened = try ModelFiles.openCheckpoint(ConversionTests.fixtures.appendingPathComponent(checkpoint).path, requireTokenizer: true)
        let (config, rope) = try ModelFiles.configuration(of: try GGUFSplitSet(path: path))
        let expected = opened.config
        let got: [Int] = [config.dim, config.layerCount, config.headCount, config.kvHeadCount, config.ffnHiddenSize, config.vocabSize]
        let want: [Int] = [
            expected.dim, expected.layerCount, expected.headCount, expected.kvHeadCount, expected.ffnHiddenSize, expected.vocabSize,
        ]
        #expect(got == want)
        #expect(Float(config.normEps) == Float(expected.normEps))
        #expect(config.ropeTheta == expected.ropeTheta)
        if let rope {
            // llama.cpp's divisor form against Meta's apply_scaling: equal to float rounding.
            let meta = RotaryEmbedding(headDim: expected.headDim, theta: expected.ropeTheta, scalingFactor: expected.ropeScalingFactor)
            for (a, b) in zip(rope.frequencies, meta.frequencies) { #expect(abs(a - b) <= 2 * b.ulp, "\(a) vs \(b)") }
        } else {
            #expect(expected.ropeScalingFactor == nil)
        }
    }

    @Test func refusesAGGUFThatIsNotLlama() throws {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("gpt2"))
        let path = NSTemporaryDirectory() + "llamakit-not-llama-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path) { _, _ in }
        let error = #expect(throws: InputError.self) { _ = try ModelFiles.open(path, maxSequenceLength: 4) }
        #expect(error?.description.contains("architecture 'gpt2' is not llama") == true)
        #expect(error?.kind == .unsupported)
    }
}
