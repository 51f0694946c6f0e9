import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import TorchCheckpoint

/// Sharded directories that do not form one model are refused with the file and tensor named.
@Suite struct ShardSetTests {
    /// Builds a directory from (target name, fixture path) pairs.
    private static func directory(_ files: [(String, String)], _ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "llamakit-shards-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (name, fixture) in files {
            try FileManager.default.copyItem(atPath: Fixtures.path(fixture), toPath: path + "/" + name)
        }
        try body(path)
    }

    static let refused: [(files: [(String, String)], message: String, kind: InputError.Kind)] = [
        (
            [
                ("consolidated.00.pth", "llama3-tiny-mp2/consolidated.00.pth"),
                ("consolidated.02.pth", "llama3-tiny-mp2/consolidated.01.pth"),
            ],
            "shard files must be numbered consolidated.00.pth, 01, … without gaps; found consolidated.02.pth at rank 1", .mismatch
        ),
        (
            [
                ("consolidated.00.pth", "llama3-tiny-mp2/consolidated.00.pth"),
                ("consolidated.01.pth", "llama2-tiny-mp2/consolidated.01.pth"),
            ],
            "holds different tensors than", .missing
        ),
        (
            [("consolidated.00.pth", "llama3-tiny-mp2/consolidated.00.pth"), ("consolidated.01.pth", "llama3-tiny/consolidated.00.pth")],
            "does not match shard 0's", .mismatch
        ),
        ([("notes.txt", "llama3-tiny/params.json")], "no consolidated.NN.pth files in this directory", .missing),
    ]

    @Test(arguments: refused)
    func mismatchedShardsAreRefused(_ row: (files: [(String, String)], message: String, kind: InputError.Kind)) throws {
        try Self.directory(row.files) { path in
            let error = #expect(throws: InputError.self) { _ = try CheckpointDirectory.open(path) }
            #expect(error?.kind == row.kind, "\(String(describing: error))")
            #expect(error?.description.contains(row.message) == true, "\(error?.description ?? "no error")")
        }
    }

    @Test func replicatedTensorsComeFromShardZero() throws {
        let set = try #require(try CheckpointDirectory.open(Fixtures.path("llama2-tiny-mp2")).source as? ShardSet)
        let direct = try PthFile(path: Fixtures.path("llama2-tiny-mp2/consolidated.00.pth"))
        let merged = try set.withBytes(of: "rope.freqs") { Array($0) }
        let fromShard = try direct.withBytes(of: "rope.freqs") { Array($0) }
        #expect(merged == fromShard)
        #expect(set.info(named: "rope.freqs")?.location.hasPrefix("shard 0: data/") == true)
    }

    @Test func aSingleOddlyNamedPthIsUsed() throws {
        try Self.directory([("model.pth", "torch/views.pth")]) { path in
            let checkpoint = try CheckpointDirectory.open(path)
            #expect(checkpoint.files.count == 1)
            #expect(checkpoint.paramsPath == nil)
            #expect(checkpoint.source.tensorInfos.count == 21)
        }
    }
}
