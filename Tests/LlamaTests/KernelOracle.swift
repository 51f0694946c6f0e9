import TensorCore
import TestSupport
import Testing

/// What the weight kernels should compute, worked out in plain scalar `Double` from the raw
/// little-endian bytes by ggml's layouts (IEEE binary16, bfloat16, `block_q8_0`, `block_q4_0`),
/// sharing no code with the kernels (no
/// `WeightMatrix` decoding, no `FloatConversion`, no f16 table, no `QuantizedKernels`): a bug in
/// the kernels' decoding cannot also be in the expected values.
enum KernelOracle {
    /// The five weight types the forward pass computes with.
    static let types: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0]

    /// The K-quant types of llama.cpp's `Q4_K_M`/`Q5_K_M` mixes (super-blocks of 256, Q8_K activations).
    static let kTypes: [DType] = [.q4_K, .q5_K, .q6_K]

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
        case .q4_K: return cols / 256 * 144
        case .q5_K: return cols / 256 * 176
        case .q6_K: return cols / 256 * 210
        default: preconditionFailure("no oracle for \(dtype)")
        }
    }

    /// Q4_K/Q5_K's 6-bit scale and min of sub-block `j` (0…7) from the 12 packed bytes at `at`
    /// (ggml's `get_scale_min_k4`).
    static func scaleMinK4(_ bytes: [UInt8], _ at: Int, _ j: Int) -> (scale: Int, min: Int) {
        let q = { Int(bytes[at + $0]) }
        if j < 4 { return (q(j) & 63, q(j + 4) & 63) }
        return ((q(j + 4) & 0xF) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4))
    }

    /// Element `i` (0…255) of the K-quant super-block at `block`, by ggml's `dequantize_row_q4_K`,
    /// `…_q5_K`, `…_q6_K`. Q4_K (144 bytes): f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles —
    /// 64 values per 32 bytes, low nibbles first; x = d·sc·q − dmin·m. Q5_K (176 bytes) puts 32 bytes
    /// qh before the nibbles, bit 2k (low nibbles) or 2k + 1 (high) of qh[l] the fifth bit. Q6_K
    /// (210 bytes): 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d; x = d·sc·(q − 32).
    static func kValue(_ dtype: DType, _ bytes: [UInt8], block: Int, _ i: Int) -> Double {
        switch dtype {
        case .q4_K, .q5_K:
            let five = dtype == .q5_K
            let d = f16(u16(bytes, block)), dmin = f16(u16(bytes, block + 2))
            let chunk = i / 64, l = i % 32, upper = i % 64 >= 32
            let (sc, m) = scaleMinK4(bytes, block + 4, 2 * chunk + (upper ? 1 : 0))
            let byte = Int(bytes[block + (five ? 48 : 16) + 32 * chunk + l])
            var q = upper ? byte >> 4 : byte & 0xF
            if five, Int(bytes[block + 16 + l]) >> (2 * chunk + (upper ? 1 : 0)) & 1 == 1 { q += 16 }
            return d * Double(sc) * Double(q) - dmin * Double(m)
        case .q6_K:
            let d = f16(u16(bytes, block + 208))
            let half = i / 128, j = i % 128, quarter = j / 32, l = j % 32
            let ql = Int(bytes[block + 64 * half + l + (quarter % 2 == 1 ? 32 : 0)])
            let low = quarter < 2 ? ql & 0xF : ql >> 4
            let high = (Int(bytes[block + 128 + 32 * half + l]) >> (2 * quarter)) & 3
            let scale = Int(Int8(bitPattern: bytes[block + 192 + 8 * half + l / 16 + 2 * quarter]))
            return d * Double(scale) * Double((low | high << 4) - 32)
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
            case .q4_K, .q5_K, .q6_K:
                values[i] = kValue(dtype, bytes, block: base + i / 256 * rowBytes(dtype, cols: 256), i % 256)
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

    /// Activations as the K-quant products see them, per llama.cpp's `quantize_row_q8_K`: per 256,
    /// the value of largest magnitude sets `iscale = −127 / max`, `q = min(127, round-half-even(iscale · x))`
    /// in f32, `d = 1 / iscale`.
    static func q8KActivations(_ x: [Float]) -> [Double] {
        stride(from: 0, to: x.count, by: 256).flatMap { start -> [Double] in
            let block = x[start..<(start + 256)]
            var max: Float = 0
            var amax: Float = 0
            for v in block where abs(v) > amax {
                amax = abs(v)
                max = v
            }
            guard amax != 0 else { return [Double](repeating: 0, count: 256) }
            let iscale = -127 / max
            let d = 1 / iscale
            return block.map { Double(Swift.min(127, (iscale * $0).rounded(.toNearestOrEven))) * Double(d) }
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
    /// through Q8_0, K-quant products through Q8_K. The K formats sum a scale part and a min part
    /// separately in f32 and subtract them, each bounded by a few times the magnitude, so their
    /// tolerance is 8 times as wide. Returns the largest error in units of `tolerance`.
    @discardableResult
    static func expectProduct(
        _ out: [Float], _ dtype: DType, _ bytes: [UInt8], rows: Int, cols: Int, x: [Float], positions: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Double {
        let isK = kTypes.contains(dtype)
        let seen = dtype == .q8_0 || dtype == .q4_0 ? q8_0Activations(x) : isK ? q8KActivations(x) : x.map(Double.init)
        var worst = 0.0
        var wrong = 0
        for r in 0..<rows {
            let w = row(dtype, bytes, row: r, cols: cols)
            for t in 0..<positions {
                let (exact, magnitude) = dot(w, seen[(t * cols)..<((t + 1) * cols)])
                let got = Double(out[t * rows + r])
                let error = abs(got - exact), limit = (isK ? 8 : 1) * tolerance(n: cols, magnitude: magnitude)
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
        var rng = SplitMix64(seed: seed)
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
        case .q4_K, .q5_K:
            // d and dmin, then packed scales, (qh,) nibbles: every bit pattern.
            for _ in 0..<(count / 256) {
                append16(scale())
                append16(scale())
                for _ in 0..<(dtype == .q4_K ? 140 : 172) { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            }
        case .q6_K:
            for _ in 0..<(count / 256) {
                for _ in 0..<208 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
                append16(scale())
            }
        default:
            preconditionFailure("no generator for \(dtype)")
        }
        return bytes
    }

    static func activations(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in rng.float(in: -2...2) }
    }
}

extension SplitMix64 {
    mutating func float(in range: ClosedRange<Float>) -> Float { Float.random(in: range, using: &self) }
}

/// A matrix product to test: `rows × cols` weights of `dtype` times `positions` activations.
struct KernelShape: CustomTestStringConvertible, Sendable {
    let dtype: DType
    let rows, cols, positions, threads: Int
    var testDescription: String { "\(dtype) \(rows)×\(cols) · \(positions) position(s), \(threads) thread(s)" }
}
