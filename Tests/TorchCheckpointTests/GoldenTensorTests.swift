import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import TorchCheckpoint

/// Every tensor of every fixture reads back exactly as torch returns it.
@Suite struct GoldenTensorTests {
    static let singleFiles: [(file: String, expected: String)] = [
        ("torch/views.pth", "torch/views.expected.json"),
        ("torch/views-deflated.pth", "torch/views.expected.json"),
        ("torch/views-big.pth", "torch/views.expected.json"),
        ("torch/nested.pth", "torch/nested.expected.json"),
    ]

    @Test(arguments: singleFiles, PthFile.ReadPath.allCases)
    func edgeCasesMatchTorch(_ fixture: (file: String, expected: String), readPath: PthFile.ReadPath) throws {
        let file = try PthFile(path: Fixtures.path(fixture.file))
        file.readPath = readPath
        let expected = try Fixtures.expected(fixture.expected)
        #expect(file.tensorInfos.map(\.name) == expected.order)
        for info in file.tensorInfos {
            let golden = try #require(expected.tensors[info.name])
            #expect(info.dtype.rawValue == golden.dtype, "\(info.name)")
            #expect(info.shape == golden.shape, "\(info.name)")
            try file.withBytes(of: info.name) { bytes in
                #expect(bytes.count == info.byteCount)
                #expect(Fixtures.hex(bytes) == golden.hex, "\(info.name) via \(readPath)")
            }
        }
    }

    static let checkpoints = ["llama2-tiny", "llama2-tiny-mp2", "llama3-tiny", "llama3-tiny-mp2", "llama31-tiny"]

    /// Sharded sets merge back to exactly the unsharded model torch saved.
    @Test(arguments: checkpoints, PthFile.ReadPath.allCases)
    func llamaCheckpointsMatchTorch(_ name: String, readPath: PthFile.ReadPath) throws {
        let checkpoint = try CheckpointDirectory.open(Fixtures.path(name), readPath: readPath)
        let expected = try Fixtures.expected("\(name)/expected.json")
        #expect(Set(checkpoint.source.tensorInfos.map(\.name)) == Set(expected.order))
        #expect(checkpoint.files.count == (name.hasSuffix("mp2") ? 2 : 1))
        for info in checkpoint.source.tensorInfos {
            let golden = try #require(expected.tensors[info.name])
            #expect(info.shape == golden.shape, "\(info.name)")
            #expect(info.dtype.rawValue == golden.dtype)
            try checkpoint.source.withBytes(of: info.name) { bytes in
                #expect(Fixtures.fnv1a64(bytes) == golden.fnv1a64, "\(info.name)")
            }
        }
    }

    @Test func metaPrefixComesFromTheFirstEntryNotTheFileName() throws {
        let file = try PthFile(path: Fixtures.path("llama3-tiny/consolidated.00.pth"))
        #expect(file.prefix == "consolidated")
        #expect(!file.isBigEndian)
    }

    @Test func embeddingSplitAxisIsDecidedFromShapes() throws {
        let llama2 = try #require(try CheckpointDirectory.open(Fixtures.path("llama2-tiny-mp2")).source as? ShardSet)
        let llama3 = try #require(try CheckpointDirectory.open(Fixtures.path("llama3-tiny-mp2")).source as? ShardSet)
        #expect(llama2.split(of: "tok_embeddings.weight") == .concatenate(axis: 1))
        #expect(llama3.split(of: "tok_embeddings.weight") == .concatenate(axis: 0))
        #expect(llama3.split(of: "layers.0.attention.wo.weight") == .concatenate(axis: 1))
        #expect(llama3.split(of: "layers.0.attention.wk.weight") == .concatenate(axis: 0))
        #expect(llama3.split(of: "norm.weight") == .replicated)
    }

    @Test func tiedTensorsShareTheirStorage() throws {
        let file = try PthFile(path: Fixtures.path("torch/views.pth"))
        #expect(file.info(named: "tied_a")?.location == file.info(named: "tied_b")?.location)
        #expect(file.info(named: "slice")?.location != file.info(named: "base")?.location)
    }

    @Test func moduleStateDictWithMetadataBuild() throws {
        let file = try PthFile(path: Fixtures.path("torch/module.pth"))
        #expect(file.tensorInfos.map(\.name) == ["0.weight", "0.bias", "1.weight", "1.bias"])
    }
}
