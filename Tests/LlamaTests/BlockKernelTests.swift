import Foundation
import TensorCore
import Testing

@testable import Llama

/// The forward pass's products over every block format (`QuantizedKernels` for a token step,
/// `TileKernels` or, for the K formats in native builds, `QuantizedTileKernels` for a prompt) against a float64 oracle that shares nothing with the library:
/// the weights are ggml's own quantized rows and ggml's own dequantization of them
/// (`fixtures/kquants`, made by compiling `ggml-quants.c`), the activations rounded as llama.cpp
/// rounds them (Q8_0 for the 32-value formats, Q8_K for the K formats) by `KernelOracle.q8_0Activations` and `KernelOracle.q8KActivations`.
@Suite struct BlockKernelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/kquants")
    static let columns = 512

    static func bytes(_ name: String) -> [UInt8] { Array(try! Data(contentsOf: root.appendingPathComponent(name))) }

    /// ggml's quantized rows of `dtype` and their dequantized values, keeping only rows whose
    /// values are ordinary weights (the fixture also holds ±FLT_MAX rows, whose products overflow).
    static func matrix(_ dtype: DType) -> (bytes: [UInt8], values: [[Double]]) {
        let all = bytes("\(dtype.rawValue).bin")
        let deq = bytes("\(dtype.rawValue).deq.f32").withUnsafeBytes { raw in
            (0..<raw.count / 4).map { Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        let rowBytes = dtype.byteCount(elements: columns)
        var kept: [UInt8] = []
        var values: [[Double]] = []
        for r in 0..<(all.count / rowBytes) {
            let row = Array(deq[(r * columns)..<((r + 1) * columns)])
            guard row.allSatisfy({ abs($0) < 1e4 }) else { continue }
            kept += all[(r * rowBytes)..<((r + 1) * rowBytes)]
            values.append(row)
        }
        return (kept, values)
    }

    static let types: [DType] = [.q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_0, .q4_0]

    /// Positions 1 and 3 take the token kernels, 4, 5, 7 and 16 the tiled ones (for Q4_K, Q5_K and
    /// Q6_K in native builds the integer `QuantizedTileKernels`, four positions a tile).
    @Test(arguments: types, [1, 3, 4, 5, 7, 16])
    func productEqualsFloat64OfGGMLsValues(_ dtype: DType, positions: Int) throws {
        let (bytes, values) = Self.matrix(dtype)
        let rows = values.count
        try #require(rows >= 20)
        let x = OracleInputs.activations(positions * Self.columns, seed: UInt64(positions))
        let seen = dtype.blockSize == 256 ? KernelOracle.q8KActivations(x) : KernelOracle.q8_0Activations(x)
        let out = TileKernelTests.product(dtype, bytes, rows: rows, cols: Self.columns, x, positions: positions, threads: 2)
        var wrong: [String] = []
        for r in 0..<rows {
            for t in 0..<positions {
                let (exact, magnitude) = KernelOracle.dot(values[r], seen[(t * Self.columns)..<((t + 1) * Self.columns)])
                // The K and min-offset formats sum a scale part and a min part separately in f32
                // and subtract them; each part is bounded by a few times the magnitude.
                let limit = 8 * KernelOracle.tolerance(n: Self.columns, magnitude: magnitude)
                let got = Double(out[t * rows + r])
                if !(abs(got - exact) <= limit) { wrong.append("row \(r) position \(t): got \(got), exact \(exact) (±\(limit))") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(rows * positions) off: \(wrong.prefix(3))")
    }
}
