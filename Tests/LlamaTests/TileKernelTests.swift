import Foundation
import TensorCore
import Testing

@testable import Llama

/// The register-tiled prompt product (`TileKernels`, taken from 4 positions on) against
/// `KernelOracle` (float64 from the raw bytes) and against the one-position kernels that decode
/// a token, for every weight type, ragged row tiles (rows not a multiple of 4), ragged position
/// tiles (not a multiple of 3) and both thread counts.
@Suite struct TileKernelTests {
    static let shapes: [KernelShape] = KernelOracle.types.flatMap { dtype in
        [
            KernelShape(dtype: dtype, rows: 1, cols: 32, positions: 4, threads: 1),
            KernelShape(dtype: dtype, rows: 5, cols: 64, positions: 5, threads: 1),
            KernelShape(dtype: dtype, rows: 7, cols: 96, positions: 7, threads: 1),
            KernelShape(dtype: dtype, rows: 130, cols: 256, positions: 65, threads: 2),
            KernelShape(dtype: dtype, rows: 258, cols: 512, positions: 9, threads: 2),
        ]
    }

    /// `W · x[t]` for every position through `MatrixKernels.matmul`, the forward pass's entry point.
    static func product(_ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int, _ x: [Float], positions: Int, threads: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: positions * rows)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(dtype: dtype, rows: rows, cols: cols, base: raw.baseAddress!)
            x.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    MatrixKernels.matmul(w, x.baseAddress!, positions: positions, into: o.baseAddress!, threads: threads)
                }
            }
        }
        return out
    }

    @Test(arguments: shapes)
    func tiledAndTokenProductsEqualFloat64(_ shape: KernelShape) throws {
        #expect(shape.positions >= MatrixKernels.tiledMinimumPositions)
        let (rows, cols) = (shape.rows, shape.cols)
        let bytes = OracleInputs.weights(shape.dtype, rows: rows, cols: cols, seed: UInt64(rows * 1000 + cols))
        let x = OracleInputs.activations(shape.positions * cols, seed: 7)

        let tiled = Self.product(shape.dtype, bytes, rows: rows, cols: cols, x, positions: shape.positions, threads: shape.threads)
        KernelOracle.expectProduct(tiled, shape.dtype, bytes, rows: rows, cols: cols, x: x, positions: shape.positions)

        // The token kernels (one position at a time) against the same oracle: a prompt and a token
        // step compute the same products.
        var token = [Float](repeating: .nan, count: shape.positions * rows)
        for t in 0..<shape.positions {
            let column = Array(x[(t * cols)..<((t + 1) * cols)])
            let one = Self.product(shape.dtype, bytes, rows: rows, cols: cols, column, positions: 1, threads: shape.threads)
            token.replaceSubrange((t * rows)..<((t + 1) * rows), with: one)
        }
        KernelOracle.expectProduct(token, shape.dtype, bytes, rows: rows, cols: cols, x: x, positions: shape.positions)
    }
}
