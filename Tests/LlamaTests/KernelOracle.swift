import TensorCore
import Testing

/// What the weight kernels should compute, worked out in plain scalar `Double` from the raw
/// little-endian bytes by ggml's layouts (IEEE binary16, bfloat16, `block_q8_0`, `block_q4_0`),
/// sharing no code with the kernels (no
/// `WeightMatrix` decoding, no `FloatConversion`, no f16 table, no `QuantizedKernels`): a bug in
/// the kernels' decoding cannot also be in the expected values.
enum KernelOracle {
    /// The five weight types the forward pass computes with.
    static let types: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0]

    static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 { UInt32(u16(bytes, offset)) | UInt32(u16(bytes, offset + 2)) << 16 }

    /// IEEE binary16 from its fields: sign, 5-bit exponent (bias 15), 10-bit mantissa.
    static func f16(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10 & 0x1F)
        let mantissa = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * mantissa * 0x1p-24
        case 31: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// bfloat16 is the high half of an f32.
    static func bf16(_ bits: UInt16) -> Double { Double(Float(bitPattern: UInt32(bits) << 16)) }

    /// Bytes of one row of `cols` elements.
    static func rowBytes(_ dtype: DType, cols: Int) -> Int {
        switch dtype {
        case .f32: return 4 * cols
        case .f16, .bf16: return 2 * cols
        case .q8_0: return cols / 32 * 34
        case .q4_0: return cols / 32 * 18
        default: preconditionFailure("no oracle for \(dtype)")
        }
    }

    /// Row `row` of a `[rows, cols]` matrix stored as `dtype`. Q8_0 blocks are 34 bytes: an f16
    /// scale d, then 32 int8 q, x = d·q. Q4_0 blocks are 18 bytes: d, then 16 bytes whose low
    /// nibbles are elements 0–15 and high nibbles elements 16–31, x = d·(nibble − 8).
    static func row(_ dtype: DType, _ bytes: [UInt8], row: Int, cols: Int) -> [Double] {
        let base = row * rowBytes(dtype, cols: cols)
        var values = [Double](repeating: 0, count: cols)
        for i in 0..<cols {
            switch dtype {
            case .f32: values[i] = Double(Float(bitPattern: u32(bytes, base + 4 * i)))
            case .f16: values[i] = f16(u16(bytes, base + 2 * i))
            case .bf16: values[i] = bf16(u16(bytes, base + 2 * i))
            case .q8_0:
                let block = base + i / 32 * 34
                values[i] = f16(u16(bytes, block)) * Double(Int8(bitPattern: bytes[block + 2 + i % 32]))
            case .q4_0:
                let block = base + i / 32 * 18, j = i % 32
                let byte = bytes[block + 2 + j % 16]
                let nibble = j < 16 ? byte & 0x0F : byte >> 4
                values[i] = f16(u16(bytes, block)) * Double(Int(nibble) - 8)
            default: preconditionFailure("no oracle for \(dtype)")
            }
        }
        return values
    }

    /// The nearest binary16 value (ties to even), for the Q8_0 activation scale.
    static func roundedToF16(_ v: Double) -> Double {
        guard abs(v) >= 0x1p-14 else { return (v * 0x1p24).rounded(.toNearestOrEven) * 0x1p-24 }
        let ulp = Double(sign: .plus, exponent: abs(v).exponent - 10, significand: 1)
        let r = (v / ulp).rounded(.toNearestOrEven) * ulp
        return abs(r) > 65504 ? (v < 0 ? -.infinity : .infinity) : r
    }

    /// Activations as Q8_0/Q4_0 products see them, per ggml's `quantize_row_q8_0`: per block of 32,
    /// `d = amax / 127` and `q = roundf(x · (1 / d))` in f32, the scale stored as f16.
    static func q8_0Activations(_ x: [Float]) -> [Double] {
        stride(from: 0, to: x.count, by: 32).flatMap { start -> [Double] in
            let block = x[start..<(start + 32)]
            let amax = block.reduce(Float(0)) { max($0, abs($1)) }
            let d = amax / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            return block.map { Double(($0 * inverse).rounded(.toNearestOrAwayFromZero)) * roundedToF16(Double(d)) }
        }
    }

    /// `Σ w·x` and `Σ |w·x|`.
    static func dot(_ w: [Double], _ x: ArraySlice<Double>) -> (value: Double, magnitude: Double) {
        precondition(w.count == x.count)
        var value = 0.0, magnitude = 0.0
        var k = x.startIndex
        for v in w {
            let p = v * x[k]
            value += p
            magnitude += abs(p)
            k += 1
        }
        return (value, magnitude)
    }

    /// How far an f32 evaluation of a dot product of `n` exact products may be from the exact
    /// value: every product and partial sum rounds once (u = 2⁻²⁴ relative), and no summation
    /// order adds more than `n` roundings to one term, plus the final reduction of the lanes.
    /// A wrong element moves the sum by about `magnitude / n`, far beyond this for the sizes here.
    static func tolerance(n: Int, magnitude: Double) -> Double { Double(n + 16) * 0x1p-24 * magnitude }

    /// Expects `out` (`positions × rows`, row-major) to be `W · x[t]` at every position, where W
    /// is `bytes` as a `[rows, cols]` matrix of `dtype` and Q8_0/Q4_0 products see `x` rounded
    /// through Q8_0. Returns the largest error in units of `tolerance`.
    @discardableResult
    static func expectProduct(
        _ out: [Float], _ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int, x: [Float], positions: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Double {
        let seen = dtype == .q8_0 || dtype == .q4_0 ? q8_0Activations(x) : x.map(Double.init)
        var worst = 0.0
        var wrong = 0
        for r in 0..<rows {
            let w = row(dtype, bytes, row: r, cols: cols)
            for t in 0..<positions {
                let (exact, magnitude) = dot(w, seen[(t * cols)..<((t + 1) * cols)])
                let got = Double(out[t * rows + r])
                let error = abs(got - exact), limit = tolerance(n: cols, magnitude: magnitude)
                if error > 0 { worst = max(worst, error / limit) }
                guard !(error <= limit) else { continue }
                wrong += 1
                // The first few wrong elements say enough; the count says the rest.
                if wrong <= 3 {
                    Issue.record("row \(r) position \(t): got \(got), exact \(exact) (tolerance \(limit))", sourceLocation: sourceLocation)
                }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(rows * positions) elements off", sourceLocation: sourceLocation)
        return worst
    }
}

/// Seeded random weights as raw bytes, drawn bit field by bit field so subnormals, both signs and
/// every mantissa bit occur; magnitudes stay below 2 so products stay comparable.
enum OracleInputs {
    static func weights(_ dtype: DType, rows: Int, cols: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        var bytes: [UInt8] = []
        func append16(_ bits: UInt16) { bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
        // An f16 scale: normal (exponent field 1…10, so d < 2⁻⁴) or now and then subnormal.
        func scale() -> UInt16 {
            let exponent: UInt64 = rng.next() % 8 == 0 ? 0 : 1 + rng.next() % 10
            let mantissa: UInt64 = rng.next() & 0x3FF
            return UInt16(exponent << 10 | mantissa)
        }
        let count = rows * cols
        switch dtype {
        case .f32:
            for _ in 0..<count {
                let bits = rng.float(in: -1...1).bitPattern
                bytes += (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * $0)) }
            }
        case .f16:
            for _ in 0..<count {
                let sign: UInt64 = rng.next() & 1, exponent: UInt64 = rng.next() % 16, mantissa: UInt64 = rng.next() & 0x3FF
                append16(UInt16(sign << 15 | exponent << 10 | mantissa))
            }
        case .bf16:
            for _ in 0..<count {
                let exponent: UInt64 = rng.next() % 16 == 0 ? 0 : 112 + rng.next() % 16
                let sign: UInt64 = rng.next() & 1, mantissa: UInt64 = rng.next() & 0x7F
                append16(UInt16(sign << 15 | exponent << 7 | mantissa))
            }
        case .q8_0:
            for _ in 0..<(count / 32) {
                append16(scale())
                for _ in 0..<32 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            }
        case .q4_0:
            for _ in 0..<(count / 32) {
                append16(scale())
                for _ in 0..<16 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            }
        default:
            preconditionFailure("no generator for \(dtype)")
        }
        return bytes
    }

    static func activations(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        return (0..<count).map { _ in rng.float(in: -2...2) }
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

/// A matrix product to test: `rows × cols` weights of `dtype` times `positions` activations.
struct KernelShape: CustomTestStringConvertible, Sendable {
    let dtype: DType
    let rows, cols, positions, threads: Int
    var testDescription: String { "\(dtype) \(rows)×\(cols) · \(positions) position(s), \(threads) thread(s)" }
}
