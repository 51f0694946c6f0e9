import BinaryIO
import TensorCore

/// Meta's `consolidated.00..NN.pth` as one logical checkpoint, merged lazily.
///
/// A merged tensor is assembled only when it is read, one tensor at a time, shard by shard
/// (`docs/formats.md` §2.7): peak memory is one merged tensor.
public final class ShardSet: TensorSource {
    public let shards: [PthFile]
    public private(set) var tensorInfos: [TensorInfo] = []
    private var splits: [ShardSplit] = []
    private var indexByName: [String: Int] = [:]

    /// - Parameter layout: how each tensor is split (Meta's fairscale layout by default).
    /// - Throws: `InputError` when shards disagree on names, dtypes or shapes, or a tensor's
    ///   split cannot be decided.
    public init(shards: [PthFile], layout: any ShardLayout = MetaShardLayout()) throws {
        precondition(!shards.isEmpty)
        self.shards = shards
        let first = shards[0]
        let names = first.tensorInfos.map(\.name)
        for shard in shards.dropFirst() {
            let other = Set(shard.tensorInfos.map(\.name))
            if other != Set(names) {
                let missing = Set(names).subtracting(other).sorted().prefix(3)
                let extra = other.subtracting(names).sorted().prefix(3)
                throw InputError(
                    .missing,
                    "holds different tensors than \(first.path): missing \(Array(missing)), extra \(Array(extra))", file: shard.path)
            }
        }
        for info in first.tensorInfos {
            let parts = shards.map { $0.info(named: info.name)! }
            for (shard, part) in zip(shards, parts) where part.dtype != info.dtype {
                throw InputError(
                    .mismatch,
                    "dtype \(part.dtype.rawValue) differs from shard 0's \(info.dtype.rawValue)", at: .tensor(info.name), file: shard.path)
            }
            var split = try layout.split(of: info, shardCount: shards.count, firstShard: first)
            if split == nil {
                // A tensor the layout does not define: identical shapes are taken as replicated.
                guard parts.allSatisfy({ $0.shape == info.shape }) else {
                    throw InputError(
                        .mismatch,
                        "shapes differ across shards (\(parts.map(\.shape))) and the tensor is not one whose split Meta's layout defines",
                        at: .tensor(info.name))
                }
                split = .replicated
            }
            var shape = info.shape
            if case .concatenate(let axis) = split! {
                guard axis < shape.count else {
                    throw InputError(
                        .malformed, "cannot concatenate along dim \(axis) of a \(shape.count)-dim tensor", at: .tensor(info.name))
                }
                // fairscale splits into equal slices: every part has shard 0's shape.
                for (shard, part) in zip(shards, parts) where part.shape != info.shape {
                    throw InputError(
                        .mismatch,
                        "shape \(part.shape) does not match shard 0's \(info.shape): model-parallel shards are equal slices along dim \(axis)",
                        at: .tensor(info.name), file: shard.path)
                }
                shape[axis] = try parts.reduce(0) { try Checked.add($0, $1.shape[axis], "merged size") }
            } else {
                for (shard, part) in zip(shards, parts) where part.shape != info.shape {
                    throw InputError(
                        .malformed,
                        "replicated tensor has shape \(part.shape), shard 0 has \(info.shape)", at: .tensor(info.name), file: shard.path)
                }
            }
            _ = try Checked.multiply(try Checked.product(shape, "merged element count"), info.dtype.itemSize, "merged byte count")
            let location: String
            if case .concatenate(let axis) = split! {
                location = "\(shards.count) shards, dim \(axis)"
            } else {
                location = "shard 0: \(info.location)"
            }
            indexByName[info.name] = tensorInfos.count
            splits.append(split!)
            tensorInfos.append(TensorInfo(name: info.name, dtype: info.dtype, shape: shape, location: location))
        }
    }

    public func info(named name: String) -> TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    /// How `name` is merged, for `inspect`.
    func split(of name: String) -> ShardSplit? {
        indexByName[name].map { splits[$0] }
    }

    /// The shards whose slices of `name` are concatenated, in order (every shard, for
    /// fairscale's equal slices). `withBytes` and `parts(of:)` both merge by this list.
    func concatenatedShards(of name: String) -> [PthFile] { shards }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = indexByName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        let info = tensorInfos[index]
        guard case .concatenate(let axis) = splits[index] else {
            return try shards[0].withBytes(of: name, body)
        }
        let itemSize = info.dtype.itemSize
        let outer = info.shape[..<axis].reduce(1, *)
        let innerPerUnit = info.shape[(axis + 1)...].reduce(1, *) * itemSize
        let rowBytes = info.shape[axis] * innerPerUnit
        var merged = [UInt8](repeating: 0, count: info.byteCount)
        try merged.withUnsafeMutableBytes { destination in
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
        }
        return try merged.withUnsafeBytes(body)
    }
}
