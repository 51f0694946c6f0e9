import TensorCore
import Testing

@testable import Llama

/// The integer prompt kernel for K-quant rows (`QuantizedTileKernels`: Q4_K, Q5_K, Q6_K in native
/// builds, eight positions a tile, a four-position twin and the token kernel for short last tiles,
/// bands of 16 rows) on random seeded blocks (every bit pattern of
/// levels, packed scales and qh; f16 scales normal and subnormal), against `KernelOracle` (float64
/// from the raw bytes, activations rounded through Q8_K) and against the token path
/// (`QuantizedKernels.dot`, one position at a time): the same integer sums and the same float
/// combination, so every output is bit-identical. Position counts 4, 5, 7, 16, 9, 10, 11 and 65
/// (every kind of tile: 8 and 5–7 positions, 3–4, 1–2), row counts off the band, one and two threads. Portable builds have no
/// integer prompt kernel (`supports` is false) and take the f32 tile; they are held to the oracle.
@Suite struct QuantizedTileKernelTests {
    static let shapes: [KernelShape] = KernelOracle.kTypes.flatMap { dtype in
        [
            KernelShape(dtype: dtype, rows: 1, cols: 256, positions: 4, threads: 1),
            KernelShape(dtype: dtype, rows: 5, cols: 512, positions: 5, threads: 1),
            KernelShape(dtype: dtype, rows: 7, cols: 768, positions: 7, threads: 1),
            KernelShape(dtype: dtype, rows: 19, cols: 512, positions: 16, threads: 1),
            KernelShape(dtype: dtype, rows: 130, cols: 1024, positions: 5, threads: 2),
            KernelShape(dtype: dtype, rows: 37, cols: 2048, positions: 16, threads: 2),
            KernelShape(dtype: dtype, rows: 3, cols: 256, positions: 9, threads: 1),
            KernelShape(dtype: dtype, rows: 17, cols: 512, positions: 10, threads: 1),
            KernelShape(dtype: dtype, rows: 9, cols: 768, positions: 11, threads: 1),
            KernelShape(dtype: dtype, rows: 66, cols: 1024, positions: 65, threads: 2),
        ]
    }

    @Test(arguments: shapes)
    func promptEqualsTokenStepsAndFloat64(_ shape: KernelShape) {
        let (rows, cols, positions) = (shape.rows, shape.cols, shape.positions)
        let bytes = OracleInputs.weights(shape.dtype, rows: rows, cols: cols, seed: UInt64(rows * 1000 + cols))
        let x = OracleInputs.activations(positions * cols, seed: UInt64(positions))

        let prompt = TileKernelTests.product(shape.dtype, bytes, rows: rows, cols: cols, x, positions: positions, threads: shape.threads)
        KernelOracle.expectProduct(prompt, shape.dtype, bytes, rows: rows, cols: cols, x: x, positions: positions)

        var token = [Float](repeating: .nan, count: positions * rows)
        for t in 0..<positions {
            let column = Array(x[(t * cols)..<((t + 1) * cols)])
            let one = TileKernelTests.product(shape.dtype, bytes, rows: rows, cols: cols, column, positions: 1, threads: shape.threads)
            token.replaceSubrange((t * rows)..<((t + 1) * rows), with: one)
        }
        KernelOracle.expectProduct(token, shape.dtype, bytes, rows: rows, cols: cols, x: x, positions: positions)

        guard QuantizedTileKernels.supports(shape.dtype) else { return }
        let differ = (0..<prompt.count).filter { prompt[$0].bitPattern != token[$0].bitPattern }
        #expect(differ.isEmpty, "\(differ.count) of \(prompt.count) outputs differ from the token path, first \(differ.prefix(3))")
    }

    #if arch(x86_64) && LLAMAKIT_AVX2
        /// A row range inside the matrix (as a thread's chunk is): only those rows are written, each
        /// equal to the token path's `QuantizedKernels.rows`.
        @Test(arguments: KernelOracle.kTypes)
        func rowRangeWritesOnlyItsRows(_ dtype: DType) {
            let (rows, cols, positions) = (41, 512, 19)
            let bytes = OracleInputs.weights(dtype, rows: rows, cols: cols, seed: 5)
            let x = OracleInputs.activations(positions * cols, seed: 6)
            let activations = x.withUnsafeBufferPointer {
                QuantizedKernels.quantize($0.baseAddress!, positions: positions, cols: cols, as: .q8_K)
            }
            var tiled = [Float](repeating: .nan, count: positions * rows)
            var token = [Float](repeating: .nan, count: positions * rows)
            bytes.withUnsafeBytes { raw in
                let w = WeightMatrix(dtype: dtype, rows: rows, cols: cols, base: raw.baseAddress!)
                tiled.withUnsafeMutableBufferPointer { QuantizedTileKernels.rows(w, 3..<22, activations, positions, $0.baseAddress!) }
                token.withUnsafeMutableBufferPointer { QuantizedKernels.rows(w, 3..<22, activations, positions, $0.baseAddress!) }
            }
            for t in 0..<positions {
                for r in 0..<rows {
                    let (got, expected) = (tiled[t * rows + r], token[t * rows + r])
                    if (3..<22).contains(r) {
                        #expect(got.bitPattern == expected.bitPattern, "row \(r) position \(t): \(got), token path \(expected)")
                    } else {
                        #expect(got.isNaN, "row \(r) position \(t) written outside the range")
                    }
                }
            }
        }
    #endif
}
