import BinaryIO
import TensorCore

/// A shard set's tensors as their shards' slices, so the forward pass can read each slice in
/// place instead of merging the model into memory (`docs/memory.md`).
extension ShardSet {
    /// The shards' slices of a concatenated tensor, in merge order; nil for a replicated one.
    /// - Throws: `InputError` if the tensor is unknown, or a KV copy it drops differs from the one kept.
    public func parts(of name: String) throws -> TensorParts? {
        guard let split = split(of: name) else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        guard case .concatenate(let axis) = split else { return nil }
        // A reader of the parts never sees the dropped KV copies: compare them before it reads.
        if kvCopies > 1 && Self.isKVProjection(name) { try checkCopiesEqual(name) }
        return TensorParts(axis: axis, parts: concatenatedShards(of: name).map { TensorParts.Part(source: $0, name: name) })
    }

    /// A replicated tensor's bytes in place in shard 0; nil for a concatenated one (see `parts(of:)`).
    /// - Throws: `InputError` if the tensor is unknown.
    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        guard let split = split(of: name) else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        return split == .replicated ? try shards[0].residentBytes(of: name) : nil
    }
}
