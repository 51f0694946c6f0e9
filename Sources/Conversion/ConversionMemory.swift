import BinaryIO
import TensorCore

/// The anonymous memory of `convert` and `quantize` (`docs/memory.md` §2), from the source's
/// tensor table: tensors are written one at a time, so what counts is the largest tensor the
/// source must assemble in memory, and the encoder's fixed chunk buffers.
public enum ConversionMemory {
    /// - Parameter command: the command the message names (`convert`, `quantize`).
    /// - Throws: `InputError` if the source cannot tell whether a tensor is resident (an unmappable file).
    public static func plan(command: String, source: any TensorSource) throws -> MemoryPlan {
        let (name, bytes) = try largestAssembled(source)
        var terms: [MemoryPlan.Term] = []
        // A merged (or inflated, or gathered) tensor can be held twice: beside a shard's own
        // unpacked slice, or beside the embedding while the output is compared with it
        // (`Converter.isTiedOutput`), or beside its rows in Hugging Face's q/k order.
        terms.append(MemoryPlan.Term("merged tensors", 2 * bytes, reason: name.map { "(2 × \($0))" }))
        terms.append(MemoryPlan.Term("encoder chunks", chunkBytes))
        terms.append(MemoryPlan.Term("process", MemoryPlan.baseline))
        return MemoryPlan(command: command, terms: terms)
    }

    /// The encoder's f32 chunk and its encoded form (`TensorEncoder.encodeTensor`), at most 4
    /// bytes per value each.
    static let chunkBytes = 2 * Converter.chunkElements * MemoryLayout<Float>.size

    /// The largest tensor the source cannot lend in place (a shard merge, a deflated, strided or
    /// big-endian record), and its name; (nil, 0) when every tensor is read in place.
    static func largestAssembled(_ source: any TensorSource) throws -> (String?, Int) {
        var largest: (String?, Int) = (nil, 0)
        for info in source.tensorInfos where info.byteCount > largest.1 {
            if try source.residentBytes(of: info.name) == nil { largest = (info.name, info.byteCount) }
        }
        return largest
    }
}
