import BinaryIO
import TensorCore
import Testing
import TorchCheckpoint

@testable import Llama

/// The forward pass over a shard set reads every shard's slice in place (`docs/memory.md`):
/// no merged copy, and the logits of the merged model.
@Suite struct ShardedForwardTests {
    static func shardSet(_ name: String) throws -> ShardSet {
        try #require(try CheckpointDirectory.open(LlamaModelTests.root.appendingPathComponent(name).path).source as? ShardSet)
    }

    /// The same shard set merged on the fly into copies (a source that lends no parts): what the
    /// forward pass held before it read slices in place.
    static func mergedModel(_ name: String, like model: LlamaModel) throws -> LlamaModel {
        try LlamaModel(config: model.config, source: RemappedSource(try shardSet(name)), maxSequenceLength: 512)
    }

    /// llama3-tiny-mp2 splits its embedding by rows (dim 0), llama2-tiny-mp2 by columns (dim 1);
    /// wo and w2 are column blocks in both.
    @Test(arguments: ["llama3-tiny-mp2", "llama2-tiny-mp2"])
    func shardsInPlaceGiveTheMergedLogitsWithoutCopying(_ name: String) throws {
        let model = try LlamaModelTests.model(name, threads: 2)
        let residency = model.weightResidency
        #expect(residency.copiedBytes == 0 && residency.copiedTensors.isEmpty, "copied \(residency.copiedTensors)")
        #expect(model.copiedWeightBytes == 0)
        #expect(residency.shards == 2)
        let merged = try Self.mergedModel(name, like: model)
        #expect(merged.copiedWeightBytes > 0 && merged.residentWeightBytes == 0)
        #expect(residency.residentBytes == merged.copiedWeightBytes)

        let tokens = Array(try LlamaModelTests.reference(name.replacingOccurrences(of: "-mp2", with: "")).tokens.prefix(24))
        // A prompt block (the tiled kernel), then single tokens (the row-at-a-time kernel).
        var sharded = try model.forward(Array(tokens[..<16]))
        for token in tokens[16...] { sharded += try model.forward([token]) }
        let expected = try merged.forward(tokens)
        let diff = LlamaModelTests.maxAbsDiff(sharded, expected)
        // Column blocks sum partial products: only the summation order differs.
        #expect(diff <= 1e-5, "max |Δlogit| \(diff)")
        #expect(sharded.count == expected.count)
    }

    /// The memory plan predicts the bytes the store copies: none for the shards read in place,
    /// the whole model for a source that only merges.
    @Test(arguments: ["llama3-tiny-mp2", "llama2-tiny-mp2"])
    func planPredictsTheCopiedBytes(_ name: String) throws {
        let model = try LlamaModelTests.model(name)
        let merged = try Self.mergedModel(name, like: model)
        for (built, source) in [(model, try Self.shardSet(name) as any TensorSource), (merged, RemappedSource(try Self.shardSet(name)))] {
            let terms = try LlamaModel.memoryTerms(
                config: model.config, source: source, maxSequenceLength: 40, positions: 40, logitRows: 40)
            #expect(terms.map(\.label) == ["KV cache", "weights copied", "scratch"])
            #expect(terms[1].bytes == built.copiedWeightBytes)
            let kvDim = model.config.kvHeadCount * model.config.headDim
            #expect(terms[0].bytes == model.config.layerCount * 40 * kvDim * 2 * 4)
        }
        let plan = MemoryPlan(command: "verify", terms: [MemoryPlan.Term("KV cache", 9_100_000_000, reason: "for 131072 positions")])
        #expect(throws: Never.self) { try plan.check(limit: 9_100_000_000) }
        #expect {
            try plan.check(limit: 8_000_000_000)
        } throws: { error in
            (error as? InputError)?.description
                == "verify needs about 9.1 GB of memory (KV cache 9.1 GB for 131072 positions) but --max-memory is 8.0 GB: raise --max-memory"
        }
        #expect(
            MemoryPlan.format(0) == "0 B" && MemoryPlan.format(512_000) == "512 kB" && MemoryPlan.format(1_000_000) == "1.0 MB"
                && MemoryPlan.format(123_456_789) == "123 MB")
        // 80 % of MemTotal (or of a smaller cgroup limit), read here through Foundation.
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total = try #require(
            meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }?.split(separator: " ").dropFirst().first)
        let cgroup = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(MemoryPlan.defaultLimit() == min(try #require(Int(total)) * 1024, cgroup ?? .max) / 5 * 4)
    }

    /// Row blocks compute each output row exactly as one matrix does.
    @Test func rowBlocksAreBitExact() throws {
        let x: [Float] = (0..<(5 * 64)).map { Float($0 % 13) * 0.25 - 1 }
        let weights: [UInt16] = (0..<(24 * 64)).map { UInt16(0x3C00 &+ UInt16(($0 * 7) % 300)) }
        try weights.withUnsafeBytes { raw in
            let whole = WeightMatrix(dtype: .bf16, rows: 24, cols: 64, base: raw.baseAddress!)
            let blocks = [0..<8, 8..<20, 20..<24].map {
                WeightMatrix(dtype: .bf16, rows: $0.count, cols: 64, base: raw.baseAddress! + $0.lowerBound * 64 * 2)
            }
            for positions in [1, 5] {
                var expected = [Float](repeating: 0, count: positions * 24)
                var found = expected
                PartitionedMatrix(whole).matmul(x, positions: positions, into: &expected, threads: 1)
                PartitionedMatrix(split: .rows, blocks: blocks).matmul(x, positions: positions, into: &found, threads: 1)
                #expect(found == expected)
            }
            var row = [Float](repeating: 0, count: 64)
            var wholeRow = row
            PartitionedMatrix(split: .rows, blocks: blocks).decodeRow(21, into: &row)
            PartitionedMatrix(whole).decodeRow(21, into: &wholeRow)
            #expect(row == wholeRow)
        }
    }

    /// A source whose parts do not add up to the tensor is refused with the tensor's name.
    @Test func refusesPartsThatDoNotFit() throws {
        let set = try Self.shardSet("llama3-tiny-mp2")
        let model = try LlamaModelTests.model("llama3-tiny-mp2")
        let lying = AxisSwappingSource(set)
        #expect {
            _ = try LlamaModel(config: model.config, source: lying, maxSequenceLength: 8)
        } throws: { error in
            guard let error = error as? InputError, case .tensor = error.location else { return false }
            return error.kind == .mismatch
        }
    }
}

extension PartitionedMatrix {
    fileprivate func matmul(_ x: [Float], positions: Int, into out: inout [Float], threads: Int) {
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { matmul(x.baseAddress!, positions: positions, into: $0.baseAddress!, threads: threads) }
        }
    }

    fileprivate func decodeRow(_ row: Int, into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { decodeRow(row, into: $0.baseAddress!) }
    }
}

/// A shard set that claims its row-split tensors are split by columns.
private final class AxisSwappingSource: TensorSource {
    let base: ShardSet
    init(_ base: ShardSet) { self.base = base }
    var tensorInfos: [TensorInfo] { base.tensorInfos }
    func info(named name: String) -> TensorInfo? { base.info(named: name) }
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R { try base.withBytes(of: name, body) }
    func parts(of name: String) throws -> TensorParts? {
        guard let parts = try base.parts(of: name) else { return nil }
        return TensorParts(axis: 1 - parts.axis, parts: parts.parts)
    }
}
