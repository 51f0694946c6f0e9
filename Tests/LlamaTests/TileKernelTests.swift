import Foundation
import TensorCore
import Testing

@testable import Llama

/// The register-tiled prompt product (`TileKernels`, taken from 4 positions on) against a
/// float64 recomputation of the same products, and against the one-position kernels that decode
/// a token, for every weight type, ragged row tiles (rows not a multiple of 4), ragged position
/// tiles (not a multiple of 3) and both thread counts.
@Suite struct TileKernelTests {
    struct Shape: CustomTestStringConvertible, Sendable {
        let dtype: DType
        let rows, cols, positions, threads: Int
        var testDescription: String { "\(dtype) \(rows)×\(cols) · \(positions) positions, \(threads) thread(s)" }
    }

    static let shapes: [Shape] = [DType.f32, .f16, .bf16, .q8_0, .q4_0].flatMap { dtype in
        [
            Shape(dtype: dtype, rows: 1, cols: 32, positions: 4, threads: 1),
            Shape(dtype: dtype, rows: 5, cols: 64, positions: 5, threads: 1),
            Shape(dtype: dtype, rows: 7, cols: 96, positions: 7, threads: 1),
            Shape(dtype: dtype, rows: 130, cols: 256, positions: 65, threads: 2),
            Shape(dtype: dtype, rows: 258, cols: 512, positions: 9, threads: 2),
        ]
    }

    /// Random weights in `dtype`'s layout (`docs/formats.md` §4.2–§4.3) and their exact f32 values.
    static func weights(_ dtype: DType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = SplitMix(seed)
        var bytes: [UInt8] = []
        var values: [Float] = []
        func append16(_ bits: UInt16) { bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
        for _ in 0..<(rows * cols / (dtype == .q8_0 || dtype == .q4_0 ? 32 : 1)) {
            switch dtype {
            case .f32:
                let v = rng.float(in: -1...1)
                values.append(v)
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
            case .f16:
                let h = Float16(rng.float(in: -1...1))
                values.append(Float(h))
                append16(h.bitPattern)
            case .bf16:
                let bits = UInt16(rng.float(in: -1...1).bitPattern >> 16)
                values.append(Float(bitPattern: UInt32(bits) << 16))
                append16(bits)
            case .q8_0:
                let d = Float16(rng.float(in: 0.001...0.02))
                append16(d.bitPattern)
                for _ in 0..<32 {
                    let q = Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127)
                    bytes.append(UInt8(bitPattern: q))
                    values.append(Float(q) * Float(d))
                }
            case .q4_0:
                let d = Float16(rng.float(in: 0.001...0.02))
                append16(d.bitPattern)
                let nibbles = (0..<32).map { _ in UInt8(rng.next() % 16) }
                for j in 0..<16 { bytes.append(nibbles[j] | nibbles[j + 16] << 4) }
                values += nibbles.map { Float(Int($0) - 8) * Float(d) }
            default:
                preconditionFailure()
            }
        }
        return (bytes, values)
    }

    static func product(_ shape: Shape, _ bytes: [UInt8], _ x: [Float], positions: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: positions * shape.rows)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(dtype: shape.dtype, rows: shape.rows, cols: shape.cols, base: raw.baseAddress!)
            x.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    MatrixKernels.matmul(w, x.baseAddress!, positions: positions, into: o.baseAddress!, threads: shape.threads)
                }
            }
        }
        return out
    }

    @Test(arguments: shapes)
    func tiledProductEqualsFloat64AndTheTokenKernels(_ shape: Shape) throws {
        #expect(shape.positions >= MatrixKernels.tiledMinimumPositions)
        let (bytes, w) = Self.weights(shape.dtype, rows: shape.rows, cols: shape.cols, seed: UInt64(shape.rows * 1000 + shape.cols))
        var rng = SplitMix(7)
        let x = (0..<(shape.positions * shape.cols)).map { _ in rng.float(in: -2...2) }
        // Q8_0/Q4_0 products see the activations rounded through Q8_0, as llama.cpp's do.
        let quantized = shape.dtype == .q8_0 || shape.dtype == .q4_0
        let seen =
            quantized
            ? x.withUnsafeBufferPointer {
                QuantizedKernels.dequantize(
                    QuantizedKernels.quantize($0.baseAddress!, positions: shape.positions, cols: shape.cols), positions: shape.positions)
            } : x

        let tiled = Self.product(shape, bytes, x, positions: shape.positions)
        var worst = 0.0
        for t in 0..<shape.positions {
            let token = Self.product(shape, bytes, Array(x[(t * shape.cols)..<((t + 1) * shape.cols)]), positions: 1)
            for r in 0..<shape.rows {
                var exact = 0.0, magnitude = 0.0
                for k in 0..<shape.cols {
                    let p = Double(w[r * shape.cols + k]) * Double(seen[t * shape.cols + k])
                    exact += p
                    magnitude += abs(p)
                }
                let got = Double(tiled[t * shape.rows + r])
                worst = max(worst, abs(got - exact) / magnitude)
                #expect(abs(got - Double(token[r])) <= 1e-5 * magnitude, "row \(r) position \(t): tiled \(got), token \(token[r])")
            }
        }
        // f32 accumulation of `cols` products: a few ulp of the magnitude, never a wrong element.
        #expect(worst <= 1e-5, "worst relative error \(worst)")
    }
}

/// A small deterministic generator for test data (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(in range: ClosedRange<Float>) -> Float { Float.random(in: range, using: &self) }
}
