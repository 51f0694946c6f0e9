import BinaryIO
import TensorCore

/// How Meta's model-parallel shards split each tensor (`docs/formats.md` §2.7).
///
/// fairscale's ColumnParallelLinear splits dim 0, RowParallelLinear dim 1, norms and `rope.freqs`
/// are replicated, and the embedding is split on dim 1 (Llama 1/2 `ParallelEmbedding`) or dim 0
/// (Llama 3 `VocabParallelEmbedding`), which is decided from the shapes.
public enum ShardSplit: Sendable, Equatable {
    case replicated
    case concatenate(axis: Int)
}

/// The policy `ShardSet` merges by: how each tensor is split across a checkpoint's shards.
public protocol ShardLayout: Sendable {
    /// The split of `info` (as the first shard holds it) across `shardCount` shards, or nil for
    /// a tensor the layout does not define (`ShardSet` then accepts only identical copies).
    /// - Throws: `InputError` when the layout defines the tensor but its shape contradicts it.
    func split(of info: TensorInfo, shardCount: Int, firstShard: any TensorSource) throws -> ShardSplit?
}

/// Meta's layout: fairscale's model-parallel splits.
public struct MetaShardLayout: ShardLayout {
    public init() {}

    public func split(of info: TensorInfo, shardCount: Int, firstShard: any TensorSource) throws -> ShardSplit? {
        guard info.name == "tok_embeddings.weight" else { return Self.split(of: info.name) }
        guard let modelDim = firstShard.info(named: "norm.weight")?.shape.first else {
            throw InputError(
                .missing, "cannot decide how the embedding is split: no norm.weight to give the model dim", at: .tensor(info.name))
        }
        guard let split = Self.embeddingSplit(shardShape: info.shape, modelDim: modelDim, shardCount: shardCount) else {
            throw InputError(
                .mismatch,
                "embedding shard shape \(info.shape) fits neither [V, \(modelDim)/\(shardCount)] nor [V/\(shardCount), \(modelDim)]",
                at: .tensor(info.name))
        }
        return split
    }

    private static let columnParallel: Set<String> = ["wq", "wk", "wv", "w1", "w3"]
    private static let rowParallel: Set<String> = ["wo", "w2"]

    /// The split of a Meta tensor name, or nil for the embedding and for names Meta does not use.
    static func split(of name: String) -> ShardSplit? {
        if name == "output.weight" { return .concatenate(axis: 0) }
        if name == "norm.weight" || name == "rope.freqs" { return .replicated }
        let parts = name.split(separator: ".")
        guard parts.count >= 4, parts[0] == "layers", parts.last == "weight" else { return nil }
        let module = String(parts[parts.count - 2])
        if columnParallel.contains(module) { return .concatenate(axis: 0) }
        if rowParallel.contains(module) { return .concatenate(axis: 1) }
        if module == "attention_norm" || module == "ffn_norm" { return .replicated }
        return nil
    }

    /// The embedding's split from shard shapes: `[V, D/MP]` → axis 1, `[V/MP, D]` → axis 0,
    /// where D is the length of the replicated `norm.weight`.
    static func embeddingSplit(shardShape: [Int], modelDim: Int, shardCount: Int) -> ShardSplit? {
        guard shardShape.count == 2 else { return nil }
        if shardShape[1] != modelDim && shardShape[1] * shardCount == modelDim { return .concatenate(axis: 1) }
        if shardShape[1] == modelDim { return .concatenate(axis: 0) }
        return nil
    }
}
