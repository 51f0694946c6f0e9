import TensorCore
import Testing

@testable import Llama

/// The weight decoding and the kernels of a token step (fewer than 4 positions: one row at a
/// time, `VectorKernels.dot`, `dot(bf16:)`, `dot(f16:)` in F16C builds, the integer block dots of
/// `QuantizedKernels`) against `KernelOracle`, float64 from the raw bytes.
@Suite struct TokenKernelTests {
    static func decode(_ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(dtype: dtype, rows: rows, cols: cols, base: raw.baseAddress!)
            out.withUnsafeMutableBufferPointer { out in
                for r in 0..<rows { w.decodeRow(r, into: out.baseAddress! + r * cols) }
            }
        }
        return out
    }

    /// Same value, same sign of zero; any NaN for a NaN.
    static func identical(_ got: Float, _ expected: Double) -> Bool {
        got.isNaN ? expected.isNaN : Double(got).bitPattern == expected.bitPattern
    }

    /// Each of the 65,536 f16 and bf16 bit patterns (subnormals, ±0, ±inf, NaNs) decodes exactly.
    @Test(arguments: [DType.f16, .bf16])
    func decodeRowIsExactForEveryBitPattern(_ dtype: DType) {
        let bytes = (0...0xFFFF).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let got = Self.decode(dtype, bytes, rows: 1, cols: 1 << 16)
        let expected = KernelOracle.row(dtype, bytes, row: 0, cols: 1 << 16)
        let wrong = (0..<(1 << 16)).filter { !Self.identical(got[$0], expected[$0]) }
        if let first = wrong.first {
            let pattern = String(first, radix: 16)
            Issue.record("\(wrong.count) bit patterns decode wrongly, first 0x\(pattern): \(got[first]), not \(expected[first])")
        }
    }

    /// Random rows of every type, subnormal scales and -128 included, decode to exactly d·q (exact in f32).
    @Test(arguments: KernelOracle.types)
    func decodeRowIsExactOnRandomRows(_ dtype: DType) {
        let (rows, cols) = (3, 4096)
        let bytes = OracleInputs.weights(dtype, rows: rows, cols: cols, seed: 11)
        let got = Self.decode(dtype, bytes, rows: rows, cols: cols)
        for r in 0..<rows {
            let expected = KernelOracle.row(dtype, bytes, row: r, cols: cols)
            let wrong = (0..<cols).filter { !Self.identical(got[r * cols + $0], expected[$0]) }
            if let first = wrong.first {
                Issue.record("row \(r): \(wrong.count) elements differ, first \(first): \(got[r * cols + first]), not \(expected[first])")
            }
        }
    }

    /// The 16-bit row kernels this build has: `dot(f16:)` needs F16C.
    static var rowDotTypes: [DType] {
        #if LLAMAKIT_F16C
            return [.f32, .bf16, .f16]
        #else
            return [.f32, .bf16]
        #endif
    }

    /// Lengths around the 8-lane step and the 32-value unrolled step, so every tail runs.
    static let lengths = [1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 100, 257, 1000, 4096]

    /// One weight row · one activation vector, the row starting 2 bytes off alignment as the rows
    /// of a 16-bit matrix with an odd column count do.
    @Test(arguments: rowDotTypes)
    func rowDotProductsOfEveryLength(_ dtype: DType) {
        for n in Self.lengths {
            let bytes = [0xAA, 0x55] + OracleInputs.weights(dtype, rows: 1, cols: n, seed: UInt64(n))
            let x = OracleInputs.activations(n, seed: UInt64(n) + 1)
            let got = bytes.withUnsafeBytes { raw in
                let row = raw.baseAddress! + 2
                return x.withUnsafeBufferPointer { x -> Float in
                    switch dtype {
                    case .f32:
                        let values = (0..<n).map { row.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                        return VectorKernels.dot(values, x.baseAddress!, n)
                    case .bf16: return VectorKernels.dot(bf16: row, x.baseAddress!, n)
                    #if LLAMAKIT_F16C
                        case .f16: return VectorKernels.dot(f16: row, x.baseAddress!, n)
                    #endif
                    default: preconditionFailure()
                    }
                }
            }
            let weights = KernelOracle.row(dtype, Array(bytes.dropFirst(2)), row: 0, cols: n)
            let (exact, magnitude) = KernelOracle.dot(weights, x.map(Double.init)[...])
            let limit = KernelOracle.tolerance(n: n, magnitude: magnitude)
            #expect(abs(Double(got) - exact) <= limit, "n = \(n): got \(got), exact \(exact)")
        }
    }

    /// 130 × 2048 · 1 and 99 × 1024 · 3 are large enough to be split between two threads.
    static let shapes: [KernelShape] = KernelOracle.types.flatMap { dtype in
        [
            KernelShape(dtype: dtype, rows: 1, cols: 32, positions: 1, threads: 1),
            KernelShape(dtype: dtype, rows: 5, cols: 96, positions: 2, threads: 1),
            KernelShape(dtype: dtype, rows: 7, cols: 160, positions: 3, threads: 1),
            KernelShape(dtype: dtype, rows: 130, cols: 2048, positions: 1, threads: 2),
            KernelShape(dtype: dtype, rows: 99, cols: 1024, positions: 3, threads: 2),
        ]
    }

    /// Below `tiledMinimumPositions`, `MatrixKernels.matmul` runs the row kernels (Q8_0/Q4_0 as
    /// integer block dots over Q8_0 activations).
    @Test(arguments: shapes)
    func tokenStepProductEqualsFloat64(_ shape: KernelShape) {
        #expect(shape.positions < MatrixKernels.tiledMinimumPositions)
        let bytes = OracleInputs.weights(shape.dtype, rows: shape.rows, cols: shape.cols, seed: UInt64(shape.rows * 1000 + shape.cols))
        let x = OracleInputs.activations(shape.positions * shape.cols, seed: 3)
        let out = TileKernelTests.product(
            shape.dtype, bytes, rows: shape.rows, cols: shape.cols, x, positions: shape.positions, threads: shape.threads)
        KernelOracle.expectProduct(out, shape.dtype, bytes, rows: shape.rows, cols: shape.cols, x: x, positions: shape.positions)
    }
}
