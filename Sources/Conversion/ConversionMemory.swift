import BinaryIO
import TensorCore

/// The anonymous memory of `convert` and `quantize` (`docs/memory.md` §2), from the source's
/// tensor table: tensors are written one at a time, so what counts is the largest tensor the
/// source must assemble in memory, and the encoder's fixed chunk buffers.
public enum ConversionMemory {
    /// - Parameters:
    ///   - command: the command the message names (`convert`, `quantize`).
    ///   - rowSlices: whether the writer takes a row-split tensor slice by slice (GGUF output:
    ///     `Converter`), so only column-split tensors are merged; the Hugging Face writer merges all.
    /// - Throws: `InputError` if the source cannot tell whether a tensor is resident (an unmappable file).
    public static func plan(command: String, source: any TensorSource, rowSlices: Bool = false) throws -> MemoryPlan {
        var terms: [MemoryPlan.Term] = []
        if rowSlices {
            // One merge buffer, reused tensor to tensor; the tied-output check compares two slices
            // at a time, each copied only when its record is not stored in place.
            let (name, bytes) = try largestAssembled(source, skippingRowSplits: true)
            terms.append(MemoryPlan.Term("merged tensors", bytes, reason: name.map { "(\($0))" }))
            let (slice, sliceBytes) = try largestCopiedSlice(source)
            terms.append(MemoryPlan.Term("slices copied", 2 * sliceBytes, reason: slice.map { "(2 × a slice of \($0))" }))
        } else {
            // A merged (or inflated, or gathered) tensor can be held twice: beside the embedding
            // while the output is compared with it, or beside its rows in Hugging Face's q/k order.
            let (name, bytes) = try largestAssembled(source, skippingRowSplits: false)
            terms.append(MemoryPlan.Term("merged tensors", 2 * bytes, reason: name.map { "(2 × \($0))" }))
        }
        terms.append(MemoryPlan.Term("encoder chunks", chunkBytes))
        terms.append(MemoryPlan.Term("process", MemoryPlan.baseline))
        return MemoryPlan(command: command, terms: terms)
    }

    /// The encoder's f32 chunk and its encoded form (`TensorEncoder.encodeTensor`), at most 4
    /// bytes per value each.
    static let chunkBytes = 2 * Converter.chunkElements * MemoryLayout<Float>.size

    /// The largest tensor the source cannot lend in place (a shard merge, a deflated, strided or
    /// big-endian record), and its name; (nil, 0) when every tensor is read in place. With
    /// `skippingRowSplits`, tensors written slice by slice are not counted.
    public static func largestAssembled(_ source: any TensorSource, skippingRowSplits: Bool) throws -> (String?, Int) {
        var largest: (String?, Int) = (nil, 0)
        for info in source.tensorInfos where info.byteCount > largest.1 {
            if skippingRowSplits, let parts = try source.parts(of: info.name), parts.axis == 0 { continue }
            if try source.residentBytes(of: info.name) == nil { largest = (info.name, info.byteCount) }
        }
        return largest
    }

    /// The largest row slice of a row-split tensor that its shard cannot lend in place.
    static func largestCopiedSlice(_ source: any TensorSource) throws -> (String?, Int) {
        var largest: (String?, Int) = (nil, 0)
        for info in source.tensorInfos {
            guard let parts = try source.parts(of: info.name), parts.axis == 0 else { continue }
            for part in parts.parts {
                let bytes = part.source.info(named: part.name)?.byteCount ?? 0
                if bytes > largest.1, try part.source.residentBytes(of: part.name) == nil { largest = (info.name, bytes) }
            }
        }
        return largest
    }
}
