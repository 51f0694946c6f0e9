import BinaryIO
import Llama
import TensorCore
import TorchCheckpoint

/// What params.json and a shard set must agree on before the tensors are checked one by one
/// (`docs/formats.md` §2.7, §2.10): the shard count its slices imply, and the KV head count
/// once repeated KV heads are kept once.
enum ShardSetChecks {
    /// - Throws: `InputError` when a shard is missing from the end of the set, or when the
    ///   repeated KV heads do not divide the declared count.
    static func check(_ set: ShardSet, against params: inout LlamaParams, paramsPath: String) throws {
        try checkShardCount(set, dim: params.dim)
        guard set.kvCopies > 1 else { return }
        let declared = params.nKvHeads ?? params.nHeads
        guard declared % set.kvCopies == 0 else {
            throw InputError(
                .mismatch,
                "n_kv_heads \(declared) is not a multiple of the \(set.kvCopies) shards that repeat each KV head",
                at: .key("n_kv_heads"), file: paramsPath)
        }
        params.nKvHeads = declared / set.kvCopies
    }

    /// A set whose `wq` slices are 1/N of `dim` must have N shards: with fewer, the last ones
    /// are missing (the numbering check cannot see a cut at the end).
    private static func checkShardCount(_ set: ShardSet, dim: Int) throws {
        let name = "layers.0.attention.wq.weight"
        guard let slice = set.shards[0].info(named: name), slice.shape.count == 2, slice.shape[0] > 0,
            set.split(of: name) == .concatenate(axis: 0), dim % slice.shape[0] == 0
        else { return }
        let implied = dim / slice.shape[0]
        guard implied != set.shards.count else { return }
        let missing = implied > set.shards.count ? ": consolidated.\(twoDigits(set.shards.count)).pth and later are missing" : ""
        throw InputError(
            .missing,
            "params.json's dim \(dim) over \(name) slices of \(slice.shape[0]) rows means \(implied) shards, but the set has \(set.shards.count)\(missing)",
            file: FileSystem.parent(of: set.paths[0]))
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
