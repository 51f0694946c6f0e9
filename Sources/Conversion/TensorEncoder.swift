import BinaryIO
import Dispatch
import GGUF
import Quantization
import TensorCore

/// Tensor bytes (f32/f16/bf16, or any block format when requantizing) → the bytes of a GGUF
/// tensor type, with the conversion policies: non-finite values are refused and F16 refuses
/// values beyond ±65504 rather than writing inf. Shared by `convert` and `quantize`.
enum TensorEncoder {
    /// How a tensor is quantized: its row length, and the importance weights of its columns
    /// (an imatrix entry) when there are any.
    struct RowPlan {
        var rowLength: Int
        var importance: [Float]?
    }

    /// Whether LlamaKit can write tensors of `type`.
    static func canEncode(_ type: GGMLType) -> Bool {
        switch type {
        case .f32, .f16, .bf16: return true
        default: return BlockFormat(type.dtype)?.isWeightFormat ?? false
        }
    }

    /// Bytes that `count` elements take as `type`.
    static func encodedSize(_ count: Int, as type: GGMLType, name: String) throws -> Int {
        guard canEncode(type) else { throw InputError(.unsupported, "cannot encode \(type.name)", at: .tensor(name)) }
        return type.layout.byteCount(elements: count)
    }

    /// Encodes `values` (already checked by `convertChunk`: finite, and within ±65504 for F16;
    /// whole rows when `importance` is given) into exactly `out`.
    private static func encode(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, importance: UnsafeBufferPointer<Float>?,
        into out: UnsafeMutableRawBufferPointer
    ) {
        switch type {
        case .f32:
            for (index, value) in values.enumerated() {
                out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        case .f16:
            FloatConversion.toF16(values, into: out)
        case .bf16:
            FloatConversion.toBF16(values, into: out)
        default:
            let format = BlockFormat(type.dtype)!
            if let importance {
                BlockQuantizer.quantize(rows: values, rowLength: importance.count, as: format, importance: importance, into: out)
            } else {
                BlockQuantizer.quantize(values, as: format, into: out)
            }
        }
    }

    /// A pointer handed to the worker threads of `convertChunk`; each writes a disjoint range.
    private struct Shared: @unchecked Sendable {
        let raw: UnsafeRawBufferPointer
        let values: UnsafeMutableBufferPointer<Float>
        let out: UnsafeMutableRawBufferPointer
    }

    /// A whole tensor (`raw`: `count` elements of `dtype`) encoded as `type` in chunks of about
    /// `Converter.chunkElements` (whole blocks; whole rows when importance weights are given),
    /// `firstElement` the index of its first element in a larger tensor (for messages),
    /// each handed to `emit`, so memory stays a few megabytes whatever the tensor. `scratch`
    /// and `encoded` are reused across tensors. Shared by `convert` and `quantize`.
    static func encodeTensor(
        _ raw: UnsafeRawBufferPointer, dtype: DType, count: Int, as type: GGMLType, rows: RowPlan? = nil, name: String,
        firstElement: Int = 0, threads: Int, scratch: inout [Float], encoded: inout [UInt8],
        emit: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let importance = rows?.importance
        // The importance-weighted 32-value quantizers weigh by statistics of the whole row.
        let unit = importance == nil ? max(Self.splitUnit, type.layout.elements) : rows!.rowLength
        let chunkElements = max(1, Converter.chunkElements / unit) * unit
        let chunk = min(count, chunkElements)
        if scratch.count < chunk { scratch = [Float](repeating: 0, count: chunk) }
        let chunkBytes = try encodedSize(chunk, as: type, name: name)
        if encoded.count < chunkBytes { encoded = [UInt8](repeating: 0, count: chunkBytes) }
        try scratch.withUnsafeMutableBufferPointer { values in
            try encoded.withUnsafeMutableBytes { output in
                var start = 0
                while start < count {
                    let length = min(chunkElements, count - start)
                    let out = UnsafeMutableRawBufferPointer(rebasing: output[0..<(try encodedSize(length, as: type, name: name))])
                    try convertChunk(
                        UnsafeRawBufferPointer(rebasing: raw[byteOffset(start, dtype)..<byteOffset(start + length, dtype)]), dtype: dtype,
                        firstElement: firstElement + start, as: type, importance: importance, unit: unit, name: name,
                        values: UnsafeMutableBufferPointer(rebasing: values[0..<length]), into: out, threads: threads)
                    try emit(UnsafeRawBufferPointer(out))
                    start += length
                }
            }
        }
    }

    /// Where element `index` (a whole number of blocks for block types) starts in `dtype` bytes.
    private static func byteOffset(_ index: Int, _ dtype: DType) -> Int { dtype.byteCount(elements: index) }

    /// One chunk of a tensor (`raw`, elements of `dtype` starting at element `firstElement` of
    /// the tensor) widened or dequantized to f32 in `values`, checked finite and encoded as
    /// `type` into `out`, split over `threads` threads in whole units of `unit` elements (whole
    /// blocks, or whole rows with `importance`). The output is the same for any thread count,
    /// and so are errors, which name the same element.
    static func convertChunk(
        _ raw: UnsafeRawBufferPointer, dtype: DType, firstElement: Int, as type: GGMLType, importance: [Float]? = nil,
        unit: Int = splitUnit, name: String, values: UnsafeMutableBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer,
        threads: Int
    ) throws {
        let count = values.count
        let blocks = (count + unit - 1) / unit
        let workers = count < 1 << 16 ? 1 : max(1, min(threads, blocks))
        // Pieces of about 64K values, taken in turn: a worker that the system deschedules holds
        // back one small piece, not half the chunk (llama.cpp's quantize hands out rows the same way).
        let unitsPerPiece = workers == 1 ? blocks : max(1, (1 << 16) / unit)
        let pieces = (blocks + unitsPerPiece - 1) / unitsPerPiece
        let shared = Shared(raw: raw, values: values, out: out)
        let outUnitBytes = try encodedSize(unit, as: type, name: name)
        @Sendable func run(_ piece: Int) -> InputError? {
            let start = piece * unitsPerPiece * unit, end = min(count, (piece + 1) * unitsPerPiece * unit)
            guard start < end else { return nil }
            let out = UnsafeMutableRawBufferPointer(
                rebasing: shared.out[(start / unit * outUnitBytes)..<((end + unit - 1) / unit * outUnitBytes)])
            // Q8_0 straight from the source bytes (SIMD, no f32 copy) unless a value is inf or
            // NaN: then the widening path below finds and names it.
            let raw = UnsafeRawBufferPointer(rebasing: shared.raw[byteOffset(start, dtype)..<byteOffset(end, dtype)])
            if type == .q8_0 && BlockQuantizer.quantizeQ8_0(raw, dtype: dtype, into: out) { return nil }
            let values = UnsafeMutableBufferPointer(rebasing: shared.values[start..<end])
            guard WeightDecoding.decode(raw, dtype: dtype, into: values) else {
                return InputError(
                    .unsupported, "dtype \(dtype.rawValue) cannot be converted (expected f32, f16 or bf16)", at: .tensor(name))
            }
            // One scan for both refusals, so the lowest bad element is named whatever the split.
            let f16 = type == .f16
            if let bad = FloatConversion.firstBeyond(f16 ? 65504 : .greatestFiniteMagnitude, in: UnsafeBufferPointer(values)) {
                let element = firstElement + start + bad
                return values[bad].isFinite
                    ? InputError(
                        .outOfRange, "element \(element) is \(values[bad]), beyond F16's ±65504: use --type bf16 or f32", at: .tensor(name))
                    : InputError(
                        .notAllowed, "element \(element) is \(values[bad]): refusing to convert non-finite weights", at: .tensor(name))
            }
            if let importance {
                importance.withUnsafeBufferPointer { encode(UnsafeBufferPointer(values), as: type, importance: $0, into: out) }
            } else {
                encode(UnsafeBufferPointer(values), as: type, importance: nil, into: out)
            }
            return nil
        }
        if pieces == 1 {
            if let error = run(0) { throw error }
            return
        }
        let errors = SlotArray<InputError?>(count: pieces, repeating: nil)
        let next = PieceCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let piece = next.take(below: pieces) { errors[piece] = run(piece) }
        }
        // The first piece's error is the lowest element's: the same message a single thread gives.
        if let error = errors.elements.lazy.compactMap({ $0 }).first { throw error }
    }

    /// The smallest share of a worker thread: whole blocks of the 32-value types (K types use
    /// their 256).
    static let splitUnit = 32
}
