import Quantization
import TensorCore

/// One weight matrix `[rows, cols]` (Meta's `[out, in]`) as the file stores it, used in place.
///
/// Kernel file: holds a raw pointer into a mapping (or a buffer owned by `WeightStore`) that
/// outlives every use, because `LlamaModel` keeps the store and the source alive.
/// Rows decode to f32 on the fly: f32 (copy), bf16 (shift), f16 (a 64 K-entry table), every
/// block format through `BlockQuantizer.dequantize`, the one definition of those formats.
struct WeightMatrix: @unchecked Sendable {
    let dtype: DType
    let rows: Int
    let cols: Int
    let base: UnsafeRawPointer
    let rowBytes: Int
    /// The block format of a quantized matrix (nil for f32, f16, bf16).
    let format: BlockFormat?

    static let supported: Set<DType> = Set([.f32, .f16, .bf16] + BlockFormat.allCases.filter(\.isWeightFormat).map(\.dtype))

    static var supportedNames: String { DType.allCases.filter(supported.contains).map(\.rawValue).joined(separator: ", ") }

    init(dtype: DType, rows: Int, cols: Int, base: UnsafeRawPointer) {
        precondition(Self.supported.contains(dtype) && cols % dtype.blockSize == 0)
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.base = base
        rowBytes = dtype.byteCount(elements: cols)
        format = BlockFormat(dtype)
    }

    /// f16 → f32 for every bit pattern; the baseline x86-64 target has no F16C, and a software
    /// conversion per element costs ≈ 5 ns (`docs/forward-pass.md` §8.5).
    static let f16Table: [Float] = (0...0xFFFF).map { FloatConversion.float(f16: UInt16($0)) }

    /// Writes row `row` as f32 into `out` (`cols` values).
    @inline(__always)
    func decodeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        let p = base + row * rowBytes
        let n = cols
        switch dtype {
        case .f32:
            out.update(from: p.assumingMemoryBound(to: Float.self), count: n)
        case .bf16:
            for i in 0..<n {
                out[i] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .f16:
            #if LLAMAKIT_F16C
                // Built for a CPU with F16C (`make release` on one): the conversion is one instruction per 8 values.
                let halves = p.assumingMemoryBound(to: Float16.self)
                for i in 0..<n { out[i] = Float(halves[i]) }
            #else
                Self.f16Table.withUnsafeBufferPointer { table in
                    for i in 0..<n { out[i] = table[Int(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))] }
                }
            #endif
        case _ where format != nil:
            BlockQuantizer.dequantize(
                UnsafeRawBufferPointer(start: p, count: rowBytes), as: format!, into: UnsafeMutableBufferPointer(start: out, count: n))
        default:
            preconditionFailure("unsupported weight type \(dtype)")
        }
    }
}
