import BinaryIO
import Quantization
import TensorCore

/// Meta's `consolidated.00..NN.pth` as one logical checkpoint, merged lazily.
///
/// A merged tensor is assembled only when it is read, one tensor at a time, shard by shard
/// (`docs/formats.md` §2.7): peak memory is one merged tensor. When consecutive shards hold
/// the same KV heads (a set cut into more shards than the model has KV heads, §2.10), each
/// copy is kept once, and every copy dropped is checked equal to the one kept when it is read.
public final class ShardSet: TensorSource {
    public let shards: [any TensorSource]
    /// The shards' files, in rank order (for messages).
    public let paths: [String]
    /// How many consecutive shards hold identical `wk`/`wv` slices: 1 when every shard has its
    /// own KV heads; m > 1 when shards m·j … m·j+m−1 repeat one head, and the set is read with
    /// a KV head count m times smaller than its params.json declares.
    public private(set) var kvCopies = 1
    public private(set) var tensorInfos: [TensorInfo] = []
    private var splits: [ShardSplit] = []
    /// Per tensor, the ranks it is concatenated from (every shard, or one of each KV copy group).
    private var members: [[Int]] = []
    private var indexByName: [String: Int] = [:]
    private var mergeBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 64)
    private var mergeBufferBusy = false
    /// KV projections whose copies were found equal.
    private var copiesChecked: Set<String> = []

    /// - Parameter layout: how each tensor is split (Meta's fairscale layout by default).
    /// - Throws: `InputError` when shards disagree on names, dtypes or shapes, a tensor's
    ///   split cannot be decided, or replicated tensors show the shards come from different models.
    public init(shards: [any TensorSource], paths: [String], layout: any ShardLayout = MetaShardLayout()) throws {
        precondition(!shards.isEmpty && shards.count == paths.count)
        self.shards = shards
        self.paths = paths
        try checkSameNames()
        var entries: [(TensorInfo, ShardSplit)] = []
        for info in shards[0].tensorInfos {
            entries.append((info, try split(of: info, layout: layout)))
        }
        kvCopies = try Self.kvCopies(in: self, entries: entries)
        for (info, split) in entries {
            try append(info, split: split)
        }
        try checkReplicatedAgree()
    }

    public func info(named name: String) -> TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    /// How `name` is merged, for `inspect`.
    public func split(of name: String) -> ShardSplit? {
        indexByName[name].map { splits[$0] }
    }

    /// Whether `name` is a KV projection, whose repeated copies are kept once.
    static func isKVProjection(_ name: String) -> Bool {
        name.hasPrefix("layers.") && (name.hasSuffix(".attention.wk.weight") || name.hasSuffix(".attention.wv.weight"))
    }

    /// The shards whose slices of `name` are concatenated, in order: every shard, or one of
    /// each run of KV copies. `withBytes` and `parts(of:)` both merge by this list.
    func concatenatedShards(of name: String) -> [any TensorSource] {
        indexByName[name].map { members[$0].map { shards[$0] } } ?? []
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = indexByName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        let info = tensorInfos[index]
        guard case .concatenate(let axis) = splits[index] else {
            return try shards[0].withBytes(of: name, body)
        }
        if kvCopies > 1 && Self.isKVProjection(name) { try checkCopiesEqual(name) }
        let itemSize = info.dtype.itemSize
        let outer = info.shape[..<axis].reduce(1, *)
        let innerPerUnit = info.shape[(axis + 1)...].reduce(1, *) * itemSize
        let rowBytes = info.shape[axis] * innerPerUnit
        return try withMergeBuffer(count: info.byteCount) { destination in
            var column = 0
            for shard in concatenatedShards(of: name) {
                let part = shard.info(named: name)!
                let chunk = part.shape[axis] * innerPerUnit
                try shard.withBytes(of: name) { source in
                    for row in 0..<outer {
                        UnsafeMutableRawBufferPointer(rebasing: destination[(row * rowBytes + column)...]).copyMemory(
                            from: UnsafeRawBufferPointer(rebasing: source[(row * chunk)..<((row + 1) * chunk)]))
                    }
                }
                column += chunk
            }
            return try body(UnsafeRawBufferPointer(destination))
        }
    }

    /// A buffer of `count` bytes for one merge, reused from merge to merge so a conversion does
    /// not fault in and zero a fresh tensor-sized allocation per tensor (a nested read, such as
    /// comparing two merged tensors, gets its own).
    private func withMergeBuffer<R>(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        if mergeBufferBusy {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
            defer { buffer.deallocate() }
            return try body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        }
        if mergeBuffer.count < count {
            mergeBuffer.deallocate()
            mergeBuffer = .allocate(byteCount: count, alignment: 64)
        }
        mergeBufferBusy = true
        defer { mergeBufferBusy = false }
        return try body(UnsafeMutableRawBufferPointer(rebasing: mergeBuffer[0..<count]))
    }

    deinit { mergeBuffer.deallocate() }

    // MARK: - Opening

    private func checkSameNames() throws {
        let names = shards[0].tensorInfos.map(\.name)
        for (shard, path) in zip(shards, paths).dropFirst() {
            let other = Set(shard.tensorInfos.map(\.name))
            if other != Set(names) {
                let missing = Set(names).subtracting(other).sorted().prefix(3)
                let extra = other.subtracting(names).sorted().prefix(3)
                throw InputError(
                    .missing, "holds different tensors than \(paths[0]): missing \(Array(missing)), extra \(Array(extra))", file: path)
            }
        }
    }

    private func split(of info: TensorInfo, layout: any ShardLayout) throws -> ShardSplit {
        let parts = shards.map { $0.info(named: info.name)! }
        for (path, part) in zip(paths, parts) where part.dtype != info.dtype {
            throw InputError(
                .mismatch, "dtype \(part.dtype.rawValue) differs from shard 0's \(info.dtype.rawValue)", at: .tensor(info.name), file: path)
        }
        guard let split = try layout.split(of: info, shardCount: shards.count, firstShard: shards[0]) else {
            // A tensor the layout does not define: identical shapes are taken as replicated.
            guard parts.allSatisfy({ $0.shape == info.shape }) else {
                throw InputError(
                    .mismatch,
                    "shapes differ across shards (\(parts.map(\.shape))) and the tensor is not one whose split Meta's layout defines",
                    at: .tensor(info.name))
            }
            return .replicated
        }
        for (path, part) in zip(paths, parts) where part.shape != info.shape {
            // fairscale splits into equal slices: every part has shard 0's shape.
            throw InputError(
                .mismatch,
                split == .replicated
                    ? "replicated tensor has shape \(part.shape), shard 0 has \(info.shape)"
                    : "shape \(part.shape) does not match shard 0's \(info.shape): model-parallel shards are equal slices",
                at: .tensor(info.name), file: path)
        }
        if case .concatenate(let axis) = split, axis >= info.shape.count {
            throw InputError(.malformed, "cannot concatenate along dim \(axis) of a \(info.shape.count)-dim tensor", at: .tensor(info.name))
        }
        return split
    }

    private func append(_ info: TensorInfo, split: ShardSplit) throws {
        var shape = info.shape
        var ranks = Array(shards.indices)
        var location = "shard 0: \(info.location)"
        if case .concatenate(let axis) = split {
            if kvCopies > 1 && Self.isKVProjection(info.name) { ranks = Array(stride(from: 0, to: shards.count, by: kvCopies)) }
            shape[axis] = try Checked.multiply(info.shape[axis], ranks.count, "merged size")
            location =
                ranks.count == shards.count
                ? "\(shards.count) shards, dim \(axis)" : "\(ranks.count) of \(shards.count) shards (KV copies kept once), dim \(axis)"
        }
        _ = try Checked.multiply(try Checked.product(shape, "merged element count"), info.dtype.itemSize, "merged byte count")
        indexByName[info.name] = tensorInfos.count
        splits.append(split)
        members.append(ranks)
        tensorInfos.append(TensorInfo(name: info.name, dtype: info.dtype, shape: shape, location: location))
    }

    // MARK: - Repeated KV heads

    /// The largest m dividing the shard count such that, in the first layer, each run of m
    /// consecutive shards holds byte-identical `wk` and `wv` slices (1 when none does).
    private static func kvCopies(in set: ShardSet, entries: [(TensorInfo, ShardSplit)]) throws -> Int {
        let count = set.shards.count
        guard count > 1,
            let wk = entries.first(where: { $0.0.name.hasSuffix(".attention.wk.weight") && isKVProjection($0.0.name) })?.0.name
        else { return 1 }
        let wv = String(wk.dropLast(".attention.wk.weight".count)) + ".attention.wv.weight"
        guard entries.contains(where: { $0.0.name == wv }) else { return 1 }
        for m in (2...count).reversed() where count % m == 0 {
            if try set.groupsIdentical(size: m, names: [wk, wv]) { return m }
        }
        return 1
    }

    private func groupsIdentical(size: Int, names: [String]) throws -> Bool {
        for name in names {
            for first in stride(from: 0, to: shards.count, by: size) {
                for rank in (first + 1)..<(first + size) where try !bytesEqual(name, rank, first) { return false }
            }
        }
        return true
    }

    private func bytesEqual(_ name: String, _ a: Int, _ b: Int) throws -> Bool {
        try shards[a].withBytes(of: name) { left in try shards[b].withBytes(of: name) { right in left.elementsEqual(right) } }
    }

    /// Compares `name`'s dropped KV copies with the kept ones, once per tensor: a conversion
    /// plans with the slices before it writes them.
    func checkCopiesEqual(_ name: String) throws {
        guard !copiesChecked.contains(name) else { return }
        for first in stride(from: 0, to: shards.count, by: kvCopies) {
            for rank in (first + 1)..<(first + kvCopies) where try !bytesEqual(name, rank, first) {
                throw InputError(
                    .mismatch,
                    "this shard's KV heads should repeat \(FileSystem.baseName(paths[first]))'s, as they do in the first layer, but they differ",
                    at: .tensor(name), file: paths[rank])
            }
        }
        copiesChecked.insert(name)
    }

    // MARK: - Shards of one model

    /// Replicated norms of shards cut from one model agree (Meta's are not always bit-identical,
    /// so within 5 % relative RMS); the final norm and the first layer's are compared, which
    /// costs a few vectors per shard (`docs/formats.md` §2.7).
    private func checkReplicatedAgree() throws {
        let names = ["norm.weight", "layers.0.attention_norm.weight", "layers.0.ffn_norm.weight"].filter {
            split(of: $0) == .replicated
        }
        for name in names {
            let reference = try floats(name, rank: 0)
            if reference.isEmpty { continue }
            for rank in shards.indices.dropFirst() {
                let other = try floats(name, rank: rank)
                if Self.relativeRMS(other, reference) > 0.05 {
                    throw InputError(
                        .mismatch,
                        "replicated tensor differs from \(FileSystem.baseName(paths[0]))'s (relative RMS \((Self.relativeRMS(other, reference) * 1000).rounded() / 1000)): the shards come from different models",
                        at: .tensor(name), file: paths[rank])
                }
            }
        }
    }

    private func floats(_ name: String, rank: Int) throws -> [Double] {
        let info = shards[rank].info(named: name)!
        var values = [Float](repeating: 0, count: info.elementCount)
        let widened = try shards[rank].withBytes(of: name) { raw in
            values.withUnsafeMutableBufferPointer { FloatConversion.widen(raw, dtype: info.dtype, into: $0) }
        }
        return widened ? values.map(Double.init) : []
    }

    static func relativeRMS(_ a: [Double], _ b: [Double]) -> Double {
        let difference = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let scale = b.reduce(0) { $0 + $1 * $1 }
        if scale == 0 { return difference == 0 ? 0 : .infinity }
        return (difference / scale).squareRoot()
    }
}
