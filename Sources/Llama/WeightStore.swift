import BinaryIO
import Quantization
import TensorCore

/// Finds the forward pass's weights in a `TensorSource` and keeps their bytes alive: in place
/// when the source can lend resident bytes (a GGUF file, an uncompressed `.pth`, each shard's
/// slice of a shard set's tensor), otherwise a copy in the stored type (a deflated or strided
/// record) — never a merged or dequantized copy of the model (`docs/memory.md`).
final class WeightStore {
    let source: any TensorSource
    /// Meta name → the source's name (identity for `.pth`, llama.cpp's names for GGUF).
    let sourceName: (String) -> String
    private var owned: [UnsafeMutableRawBufferPointer] = []
    private(set) var copiedBytes = 0
    private(set) var residentBytes = 0
    /// The tensors (or shard slices) that had to be copied, by the source's name.
    private(set) var copiedTensors: [String] = []
    /// The most parts any matrix was read from (1 unless the source is a shard set).
    private(set) var mostParts = 1

    init(source: any TensorSource, sourceName: @escaping (String) -> String) {
        self.source = source
        self.sourceName = sourceName
    }

    deinit { for buffer in owned { buffer.deallocate() } }

    func has(_ metaName: String) -> Bool { source.info(named: sourceName(metaName)) != nil }

    /// The matrix `metaName` of shape `[rows, cols]`.
    /// - Throws: `InputError` naming the tensor when it is missing, has another shape, or a
    ///   type the forward pass does not compute with.
    func matrix(_ metaName: String, rows: Int, cols: Int) throws -> PartitionedMatrix {
        let name = sourceName(metaName)
        guard let info = source.info(named: name) else {
            throw InputError(.missing, "missing: the forward pass needs it (expected shape [\(rows), \(cols)])", at: .tensor(name))
        }
        guard info.shape == [rows, cols] else {
            throw InputError(.mismatch, "expected shape [\(rows), \(cols)], found \(info.shape)", at: .tensor(name))
        }
        guard WeightMatrix.supported.contains(info.dtype) else {
            throw InputError(
                .unsupported,
                "type \(info.dtype.rawValue) is not supported by the forward pass (\(WeightMatrix.supportedNames) are)", at: .tensor(name))
        }
        if let parts = try source.parts(of: name), parts.parts.count > 1 {
            return try partitioned(name, info, parts)
        }
        return PartitionedMatrix(
            WeightMatrix(dtype: info.dtype, rows: rows, cols: cols, base: try bytes(of: name, in: source, count: info.byteCount)))
    }

    /// A matrix the source concatenates from `parts`, each part used in place where it can be.
    /// - Throws: `InputError` naming the tensor when a part's type or shape does not add up to it.
    private func partitioned(_ name: String, _ info: TensorInfo, _ parts: TensorParts) throws -> PartitionedMatrix {
        guard parts.axis == 0 || parts.axis == 1 else {
            throw InputError(.mismatch, "a matrix cannot be concatenated along dim \(parts.axis)", at: .tensor(name))
        }
        let split: PartitionedMatrix.Split = parts.axis == 0 ? .rows : .columns
        let blocks = try parts.parts.map { part -> WeightMatrix in
            guard let partInfo = part.source.info(named: part.name), partInfo.dtype == info.dtype, partInfo.shape.count == 2,
                partInfo.shape[1 - parts.axis] == info.shape[1 - parts.axis], partInfo.shape[1] % info.dtype.blockSize == 0
            else {
                throw InputError(.mismatch, "a part does not fit the merged \(info.dtype.rawValue) \(info.shape)", at: .tensor(name))
            }
            let (rows, cols) = (partInfo.shape[0], partInfo.shape[1])
            return WeightMatrix(
                dtype: info.dtype, rows: rows, cols: cols, base: try bytes(of: part.name, in: part.source, count: partInfo.byteCount))
        }
        let matrix = PartitionedMatrix(split: split, blocks: blocks)
        guard matrix.rows == info.shape[0], matrix.cols == info.shape[1] else {
            throw InputError(.mismatch, "its parts make [\(matrix.rows), \(matrix.cols)], not \(info.shape)", at: .tensor(name))
        }
        mostParts = max(mostParts, blocks.count)
        return matrix
    }

    /// The vector `metaName` of `count` values, widened to f32 (norm weights, `rope_freqs`).
    func vector(_ metaName: String, count: Int) throws -> [Float] {
        let name = sourceName(metaName)
        guard let info = source.info(named: name) else {
            throw InputError(.missing, "missing: the forward pass needs it (expected shape [\(count)])", at: .tensor(name))
        }
        guard info.shape == [count] else {
            throw InputError(.mismatch, "expected shape [\(count)], found \(info.shape)", at: .tensor(name))
        }
        var values = [Float](repeating: 0, count: count)
        let ok = try source.withBytes(of: name) { raw in
            values.withUnsafeMutableBufferPointer { FloatConversion.widen(raw, dtype: info.dtype, into: $0) }
        }
        guard ok else { throw InputError(.mismatch, "expected a float tensor, found \(info.dtype.rawValue)", at: .tensor(name)) }
        return values
    }

    /// Tensor `name` of `source`, in place when the source lends it, else copied into a buffer
    /// the store owns (counted in `copiedBytes`).
    private func bytes(of name: String, in source: any TensorSource, count: Int) throws -> UnsafeRawPointer {
        if let resident = try source.residentBytes(of: name), let base = resident.baseAddress {
            guard resident.count == count else {
                throw InputError(.mismatch, "holds \(resident.count) bytes, expected \(count)", at: .tensor(name))
            }
            residentBytes += count
            return base
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        owned.append(buffer)
        try source.withBytes(of: name) { raw in
            guard raw.count == count else { throw InputError(.mismatch, "holds \(raw.count) bytes, expected \(count)", at: .tensor(name)) }
            buffer.copyMemory(from: raw)
        }
        copiedBytes += count
        copiedTensors.append(name)
        return UnsafeRawPointer(buffer.baseAddress!)
    }
}
