import BinaryIO
import Foundation
import GGUF
import Llama
import LlamaTokenizers
import TensorCore
import Testing
import TorchCheckpoint

@testable import Conversion

/// A shard set converts slice by slice: its row-split tensors are never assembled, and the
/// file is the one converting the same weights from a single file gives.
@Suite struct ShardedConversionTests {
    /// A source that forwards to another and records which tensors were read whole.
    final class Recording: TensorSource {
        let inner: any TensorSource
        var readWhole: [String] = []
        init(_ inner: any TensorSource) { self.inner = inner }
        var tensorInfos: [TensorInfo] { inner.tensorInfos }
        func info(named name: String) -> TensorInfo? { inner.info(named: name) }
        func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
            readWhole.append(name)
            return try inner.withBytes(of: name, body)
        }
        func parts(of name: String) throws -> TensorParts? { try inner.parts(of: name) }
        func storedRange(of name: String) throws -> StoredRange? { try inner.storedRange(of: name) }
    }

    static func convert(_ fixture: String, _ type: ConversionType, source wrap: (any TensorSource) -> any TensorSource) throws -> GGUFFile {
        let directory = try CheckpointDirectory.open(ConversionTests.fixtures.appendingPathComponent(fixture).path)
        let tokenizer = try TokenizerLoader.load(path: directory.tokenizerPath!)
        let config = try LlamaConfig(
            params: try LlamaParams.load(path: directory.paramsPath!), tensors: directory.source, tokenizer: .tiktoken)
        let output = NSTemporaryDirectory() + "llamakit-sharded-\(UUID().uuidString).gguf"
        _ = try Converter.convert(
            source: wrap(directory.source), config: config, tokenizer: tokenizer, options: .init(type: type, name: "x"), to: output)
        let file = try GGUFFile(path: output)
        try FileManager.default.removeItem(atPath: output)
        return file
    }

    @Test(arguments: [ConversionType.bf16, .q8_0, .q4_K_M])
    func rowSplitTensorsAreWrittenSliceBySlice(_ type: ConversionType) throws {
        var recording: Recording?
        let sharded = try Self.convert("llama3-tiny-mp2", type) { source in
            recording = Recording(source)
            return recording!
        }
        let whole = try Self.convert("llama3-tiny", type) { $0 }
        // Only the column-split (wo, w2) and replicated tensors are read whole; the tied-output
        // check compares the embedding and output shard by shard.
        let names = Set(try #require(recording).readWhole)
        #expect(!names.isEmpty)
        for name in names {
            #expect(name.hasSuffix("wo.weight") || name.hasSuffix("w2.weight") || name.hasSuffix("norm.weight"), "\(name) was assembled")
        }
        #expect(sharded.tensors.map(\.name) == whole.tensors.map(\.name))
        for tensor in whole.tensors {
            #expect(
                try sharded.withBytes(of: tensor.name) { Array($0) } == whole.withBytes(of: tensor.name) { Array($0) }, "\(tensor.name)")
        }
    }
}
