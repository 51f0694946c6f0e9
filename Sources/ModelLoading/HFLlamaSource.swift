import BinaryIO
import TensorCore

/// An HF directory's tensors under Meta's names, with q/k rows put back in Meta's rotary order
/// (`docs/hf-format.md` §2–§3), so every consumer — inspect, convert, the forward pass — sees the
/// same tensors it would see from Meta's own checkpoint.
///
/// Tensors in HF order already are served in place; `wq`/`wk` are assembled per call. A tied
/// model (no `lm_head.weight`) shows `output.weight` as the embedding, as Meta's 3.2 files hold it.
public final class HFLlamaSource: TensorSource {
    public let base: any TensorSource
    public let tensorInfos: [TensorInfo]
    /// Meta name → HF name.
    private let hfName: [String: String]
    private let infoByName: [String: TensorInfo]
    private let headDim: Int
    /// True when `output.weight` is served from `model.embed_tokens.weight`.
    public let tiedOutput: Bool

    /// - Parameter headDim: rows per head of q and k (`hidden_size / num_attention_heads`).
    public init(base: any TensorSource, headDim: Int) {
        self.base = base
        self.headDim = headDim
        let naming = MetaNaming(base.tensorInfos.filter { !HFNames.isDerivedBuffer($0.name) }, metaName: HFNames.meta(for:))
        (tensorInfos, hfName, infoByName, tiedOutput) = (naming.infos, naming.storedName, naming.infoByName, naming.tiedOutput)
    }

    public func info(named name: String) -> TensorInfo? { infoByName[name] }

    private func source(of name: String) throws -> String {
        guard let hf = hfName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name)) }
        return hf
    }

    /// q/k rows need reordering; a 2-D tensor whose rows are whole heads is required.
    private func permutedRowBytes(of name: String) throws -> Int? {
        guard HFNames.isRotaryPermuted(meta: name), let info = infoByName[name] else { return nil }
        guard info.shape.count == 2, info.shape[0] % headDim == 0, headDim % 2 == 0, !info.dtype.isBlockQuantized else {
            throw InputError(
                .mismatch, "expected a 2-D tensor of whole heads of \(headDim) rows, found \(info.dtype.rawValue) \(info.shape)",
                at: .tensor(name))
        }
        return info.byteCount / max(info.shape[0], 1)
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let hf = try source(of: name)
        guard let rowBytes = try permutedRowBytes(of: name) else { return try base.withBytes(of: hf, body) }
        return try base.withBytes(of: hf) { stored in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: stored.count, alignment: 64)
            defer { buffer.deallocate() }
            if stored.count > 0 {
                RotaryPermutation.permuteRows(stored, into: buffer, rowBytes: rowBytes, headDim: headDim, direction: .hfToMeta)
            }
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        guard try permutedRowBytes(of: name) == nil else { return nil }
        return try base.residentBytes(of: try source(of: name))
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        guard try permutedRowBytes(of: name) == nil else { return nil }
        return try base.storedRange(of: try source(of: name))
    }
}
