import BinaryIO
import Quantization
import TensorCore

/// Finds the forward pass's weights in a `TensorSource` and keeps their bytes alive: in place
/// when the source can lend resident bytes (a GGUF file, an uncompressed `.pth`), otherwise a
/// copy in the stored type (a shard merge) — never a dequantized copy of the model.
final class WeightStore {
    let source: any TensorSource
    /// Meta name → the source's name (identity for `.pth`, llama.cpp's names for GGUF).
    let sourceName: (String) -> String
    private var owned: [UnsafeMutableRawBufferPointer] = []
    private(set) var copiedBytes = 0
    private(set) var residentBytes = 0

    init(source: any TensorSource, sourceName: @escaping (String) -> String) {
        self.source = source
        self.sourceName = sourceName
    }

    deinit { for buffer in owned { buffer.deallocate() } }

    func has(_ metaName: String) -> Bool { source.info(named: sourceName(metaName)) != nil }

    /// The matrix `metaName` of shape `[rows, cols]`.
    /// - Throws: `InputError` naming the tensor when it is missing, has another shape, or a
    ///   type the forward pass does not compute with.
    func matrix(_ metaName: String, rows: Int, cols: Int) throws -> WeightMatrix {
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
        return WeightMatrix(dtype: info.dtype, rows: rows, cols: cols, base: try bytes(of: name, count: info.byteCount))
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

    private func bytes(of name: String, count: Int) throws -> UnsafeRawPointer {
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
        return UnsafeRawPointer(buffer.baseAddress!)
    }
}
