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
