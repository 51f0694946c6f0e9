import BinaryIO
import Foundation
import GGUF
import Llama
import LlamaTokenizers
import Quantization
import TestSupport
import Testing
import TorchCheckpoint

@testable import Conversion

@Suite struct ConversionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    @Test func gpt2ByteToUnicode() {
        #expect(ByteLevelText.string([0x20, 0x77, 0x6F, 0x72, 0x6C, 0x64]) == "Ġworld")
        #expect(ByteLevelText.string([0x0A]) == "Ċ")
        #expect(ByteLevelText.string([0x7F]) == "ġ")
        #expect(ByteLevelText.string([0xAD]) == "Ń")
        #expect(Set(ByteLevelText.byteToUnicode).count == 256)
    }

    /// `docs/formats.md` §3.8: 280,147 merges from Meta's file (= HF tokenizer.json).
    @Test func llama3MergesFromMetasFile() throws {
        let path = Self.fixtures.appendingPathComponent(".cache/llama3/tokenizer.model")
        let tokenizer = try Llama3Tokenizer(parsing: Array(try Data(contentsOf: path)))
        let merges = TokenizerMetadata.llama3Merges(tokenizer.ranks)
        #expect(merges.count == 280_147)
        #expect(merges.first == "Ġ Ġ")
    }

    static func convert(_ checkpoint: String, _ type: ConversionType, overrides: TensorTypeOverrides = .none) throws -> (GGUFFile, String) {
        let directory = try CheckpointDirectory.open(Self.fixtures.appendingPathComponent(checkpoint).path)
        let tokenizer = try TokenizerLoader.load(path: directory.tokenizerPath!)
        let config = try LlamaConfig(
            params: try LlamaParams.load(path: directory.paramsPath!), tensors: directory.source,
            tokenizer: tokenizer is Llama3Tokenizer ? .tiktoken : .sentencepiece)
        let output = NSTemporaryDirectory() + "llamakit-convert-\(UUID().uuidString).gguf"
        _ = try Converter.convert(
            source: directory.source, config: config, tokenizer: tokenizer,
            options: .init(type: type, overrides: overrides, name: checkpoint), to: output)
        return (try GGUFFile(path: output), output)
    }

    @Test(arguments: ConversionType.allCases)
    func convertedFileHasLlamaCppsNamesTypesAndKeys(_ type: ConversionType) throws {
        let (file, path) = try Self.convert("llama31-tiny", type)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(file.value("general.architecture") == .string("llama"))
        #expect(file.value("general.file_type") == .u32(type.fileType))
        #expect(file.value("llama.attention.head_count_kv") == .u32(2))
        #expect(file.value("llama.rope.freq_base") == .f32(500_000))
        #expect(file.value("llama.context_length") == .u32(131_072))
        #expect(file.value("tokenizer.ggml.pre") == .string("llama-bpe"))
        #expect(file.tensors.count == 22)
        let byName = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
        #expect(byName["blk.0.attn_norm.weight"]?.type == .f32)
        // The lossless presets and Q8_0 put one type on every matrix; the mixes are
        // QuantizationMixTests' subject (against llama-quantize's own choices).
        if [.f32, .f16, .bf16, .q8_0].contains(type) { #expect(byName["blk.1.ffn_down.weight"]?.type == type.ggmlType) }
        #expect(byName["blk.1.ffn_down.weight"]?.shape == [64, 224])
        #expect(byName["rope_freqs.weight"]?.shape == [8])
    }

    @Test func bf16IsCopiedBitForBitAndQ8_0IsTheReferenceQuantizer() throws {
        let source = try PthFile(path: Self.fixtures.appendingPathComponent("llama3-tiny/consolidated.00.pth").path)
        let original = try source.withBytes(of: "layers.0.attention.wq.weight") { Array($0) }
        let (bf16, bf16Path) = try Self.convert("llama3-tiny", .bf16)
        defer { try? FileManager.default.removeItem(atPath: bf16Path) }
        #expect(try bf16.withBytes(of: "blk.0.attn_q.weight") { Array($0) } == original)
        let (q8, q8Path) = try Self.convert("llama3-tiny", .q8_0)
        defer { try? FileManager.default.removeItem(atPath: q8Path) }
        let floats = original.withUnsafeBytes { raw in
            (0..<original.count / 2).map { FloatConversion.float(bf16: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)) }
        }
        var expected = [UInt8](repeating: 0, count: floats.count / 32 * 34)
        floats.withUnsafeBufferPointer { values in
            expected.withUnsafeMutableBytes { _ = BlockQuantizer.quantize(values, as: .q8_0, into: $0) }
        }
        #expect(try q8.withBytes(of: "blk.0.attn_q.weight") { Array($0) } == expected)
        #expect(q8.value("llama.rope.freq_base") == .f32(500_000))
        #expect(!q8.tensors.contains { $0.name == "rope_freqs.weight" })
    }

    @Test func llama2ShardsConvertWithSentencePieceVocabulary() throws {
        let (file, path) = try Self.convert("llama2-tiny-mp2", .f16)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(file.value("tokenizer.ggml.model") == .string("llama"))
        #expect(file.value("llama.rope.freq_base") == .f32(10_000))
        #expect(file.tensors.first { $0.name == "token_embd.weight" }?.shape == [1000, 64])
        #expect(!file.tensors.contains { $0.name.contains("rope") })
        guard case .array(.f32, let scores)? = file.value("tokenizer.ggml.scores") else {
            Issue.record("no scores")
            return
        }
        #expect(scores.count == 1000)
    }

    /// Meta's apply_scaling as divisors: high-frequency pairs 1, low-frequency pairs the factor.
    @Test func ropeFreqsDivisors() {
        let factors = Converter.ropeFreqs(headDim: 128, theta: 500_000, factor: 8)
        #expect(factors.count == 64)
        #expect(factors.first == 1)
        #expect(factors.last == 8)
        #expect(factors.allSatisfy { $0 >= 1 && $0 <= 8 })
        #expect(zip(factors, factors.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(Converter.ropeFreqs(headDim: 64, theta: 500_000, factor: 32).last == 32)
    }
}

@Suite struct RequantizerTests {
    /// GGUF bf16 → preset gives exactly the bytes `convert --type` gives from the checkpoint, for
    /// every preset (the same mix planned from the GGUF's tensor list and keys).
    @Test(arguments: ConversionType.allCases.filter { $0 != .bf16 })
    func quantizingTheBF16FileEqualsConvertingDirectly(_ type: ConversionType) throws {
        let (_, bf16Path) = try ConversionTests.convert("llama31-tiny", .bf16)
        let (_, directPath) = try ConversionTests.convert("llama31-tiny", type)
        let output = NSTemporaryDirectory() + "llamakit-requant-\(UUID().uuidString).gguf"
        defer { for path in [bf16Path, directPath, output] { try? FileManager.default.removeItem(atPath: path) } }
        _ = try Requantizer.run(input: try GGUFSplitSet(path: bf16Path), request: QuantizationRequest(preset: type), to: output)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: directPath)))
    }

    @Test func conversionIsDeterministic() throws {
        let (_, first) = try ConversionTests.convert("llama2-tiny-mp2", .q8_0)
        let (_, second) = try ConversionTests.convert("llama2-tiny-mp2", .q8_0)
        defer { for path in [first, second] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data(contentsOf: URL(fileURLWithPath: second)))
    }
}

/// `convert --threads N` splits each chunk over threads: the bytes, and the first bad element an
/// error names, must not depend on N.
@Suite struct ParallelChunkTests {
    static let count = 200_000 + 64  // whole blocks, not a multiple of the thread count

    static func bf16Chunk(nanAt: Int? = nil) -> [UInt8] {
        var generator = XorShift64Star(seed: 0x5EED_C4A4)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for index in 0..<count {
            var value = Float.random(in: -3...3, using: &generator)
            if index == nanAt { value = .nan }
            let bits = UInt16(value.bitPattern >> 16)
            bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        }
        return bytes
    }

    static func encode(_ raw: [UInt8], _ type: GGMLType, threads: Int) throws -> [UInt8] {
        var values = [Float](repeating: 0, count: count)
        var out = [UInt8](repeating: 0, count: try TensorEncoder.encodedSize(count, as: type, name: "t"))
        try raw.withUnsafeBytes { raw in
            try values.withUnsafeMutableBufferPointer { values in
                try out.withUnsafeMutableBytes { out in
                    try TensorEncoder.convertChunk(
                        raw, dtype: .bf16, firstElement: 1_000_000, as: type, name: "t", values: values, into: out, threads: threads)
                }
            }
        }
        return out
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .f16, .f32])
    func bytesDoNotDependOnTheThreadCount(_ type: GGMLType) throws {
        let raw = Self.bf16Chunk()
        let one = try Self.encode(raw, type, threads: 1)
        for threads in [2, 3, 8] { #expect(try Self.encode(raw, type, threads: threads) == one) }
    }

    @Test func theErrorNamesTheFirstBadElementWhateverTheThreads() throws {
        let raw = Self.bf16Chunk(nanAt: 150_001)
        for threads in [1, 2, 3] {
            let error = #expect(throws: InputError.self) { try Self.encode(raw, .q8_0, threads: threads) }
            #expect(error?.description.contains("element 1150001 is nan") == true, "\(error?.description ?? "")")
            #expect(error?.kind == .notAllowed)
        }
    }
}
