import BinaryIO
import Foundation
import GGUF
import Llama
import LlamaTokenizers
import TensorCore
import Testing
import TorchCheckpoint

@testable import Conversion

/// A checkpoint whose `output.weight` is replaced by the embedding's bytes, optionally with one
/// bit flipped: a Llama 3.2 1B/3B file ties the two.
final class TiedSource: TensorSource {
    let base: any TensorSource
    let output: [UInt8]
    var tensorInfos: [TensorInfo] { base.tensorInfos }

    init(_ base: any TensorSource, flippingBit bit: Int? = nil) throws {
        self.base = base
        var bytes = try base.withBytes(of: "tok_embeddings.weight") { Array($0) }
        if let bit { bytes[bit / 8] ^= UInt8(1 << (bit % 8)) }
        output = bytes
    }

    func info(named name: String) -> TensorInfo? { base.info(named: name) }

    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        name == "output.weight" ? try output.withUnsafeBytes(body) : try base.withBytes(of: name, body)
    }
}

/// The converter drops `output.weight` only when it is bit-identical to the embedding (llama.cpp
/// then ties them), and keeps any other, even one bit away.
@Suite struct TiedOutputConversionTests {
    static func convert(_ source: any TensorSource) throws -> (Converter.Summary, GGUFFile, String) {
        let directory = try CheckpointDirectory.open(ConversionTests.fixtures.appendingPathComponent("llama31-tiny").path)
        let tokenizer = try TokenizerLoader.load(path: try #require(directory.tokenizerPath))
        let config = try LlamaConfig(
            params: try LlamaParams.load(path: try #require(directory.paramsPath)), tensors: source, tokenizer: .tiktoken)
        let path = NSTemporaryDirectory() + "llamakit-tied-\(UUID().uuidString).gguf"
        let summary = try Converter.convert(
            source: source, config: config, tokenizer: tokenizer, options: .init(type: .bf16, name: "tied", sync: false), to: path)
        return (summary, try GGUFFile(path: path), path)
    }

    static func checkpoint() throws -> any TensorSource {
        try CheckpointDirectory.open(ConversionTests.fixtures.appendingPathComponent("llama31-tiny").path).source
    }

    @Test func aBitIdenticalOutputIsDropped() throws {
        let (summary, file, path) = try Self.convert(try TiedSource(try Self.checkpoint()))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(summary.droppedTiedOutput)
        #expect(!file.tensors.contains { $0.name == "output.weight" })
        #expect(file.tensors.contains { $0.name == "token_embd.weight" })
        #expect(file.tensors.count == 21)  // 22 for the untied fixture
    }

    @Test(arguments: [nil, 0, 7, 64 * 768 * 16 - 1])
    func anyOtherOutputIsKept(_ bit: Int?) throws {
        let checkpoint = try Self.checkpoint()
        let source: any TensorSource = try bit.map { try TiedSource(checkpoint, flippingBit: $0) } ?? checkpoint
        let (summary, file, path) = try Self.convert(source)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(!summary.droppedTiedOutput)
        #expect(file.tensors.count == 22)
        // bf16 in, bf16 out: the kept tensor is the source's bytes.
        let expected = try source.withBytes(of: "output.weight") { Array($0) }
        #expect(try file.withBytes(of: "output.weight") { Array($0) } == expected)
    }
}
