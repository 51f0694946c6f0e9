import TensorCore

/// Where a model's weights live while it runs: read in place from mapped files (page cache,
/// reclaimable) or copied into the process's own memory (`docs/memory.md`).
public struct WeightResidency: Sendable, Equatable {
    public var residentBytes: Int
    public var copiedBytes: Int
    /// The tensors (or shard slices) that were copied, by the source's name.
    public var copiedTensors: [String]
    /// The most shards any weight is read from (1 for a single file).
    public var shards: Int
}

extension WeightResidency {
    /// One line saying how the weights of `path` are held, when it is worth saying: read in
    /// place from a shard set's shards, or copied and why; nil for one file read in place.
    public func summary(of path: String) -> String? {
        if copiedBytes > 0 {
            let count = copiedTensors.count
            return "\(path): \(MemoryPlan.format(copiedBytes)) of weights copied into memory: \(count) tensor\(count == 1 ? "" : "s") "
                + "cannot be read in place (deflated, strided or big-endian records, or a type converted on reading), e.g. \(copiedTensors[0])"
        }
        guard shards > 1 else { return nil }
        return "\(path): weights read in place from its \(shards) shards (0 B copied, no merged copy)"
    }
}
