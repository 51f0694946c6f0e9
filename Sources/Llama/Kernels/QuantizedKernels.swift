import Quantization
import TensorCore

/// Block-quantized matrix products the way llama.cpp computes them on CPU: the activations are
/// quantized first — to Q8_0 blocks of 32 for the 32-value weight types, to Q8_K super-blocks of
/// 256 for the K types — then each block's dot product is an integer sum scaled once
/// (ggml `ggml_vec_dot_q4_0_q8_0`, `…_q4_K_q8_K`, …; `docs/forward-pass.md` §8.4):
/// `Σ_b d_w · d_x · Σ_g sc_g · Σ_j q_w[j] · q_x[j]  −  dmin_w · d_x · Σ_g m_g · Σ_j q_x[j]`.
/// Q4_1/Q5_1 take their activations' block sums from the Q8_0 values (ggml's Q8_1 carries the
/// same sum rounded to f16).
///
/// Kernel file. Swift never reassociates a float reduction, but integer loops do vectorize
/// (`docs/forward-pass.md` §8.1, §8.4), so every group loop is a plain `Int32` loop and the
/// float work is a few multiply-adds per block. Native builds (`LLAMAKIT_AVX2`) take the integer
/// sums of Q4_K, Q5_K, Q6_K, Q4_0 and Q8_0 from `QuantizedKernels.AVX2` instead: the same integers.
enum QuantizedKernels {
    /// Activations of a block of positions, quantized: `positions × blocks` scales,
    /// `positions × cols` int8 values, and per group of `groupSize` values their integer sum.
    struct QuantizedActivations: Sendable {
        /// Q8_0 (32 values per scale) or Q8_K (256).
        let format: BlockFormat
        var scales: [Float]
        var values: [Int8]
        /// Σq per 32 values (Q8_0) or per 16 values (Q8_K, ggml's `bsums`).
        var sums: [Int32]
        let cols: Int

        var blockSize: Int { format.elementsPerBlock }
        var groupSize: Int { format == .q8_K ? 16 : 32 }
    }

    /// The activation format llama.cpp pairs with weights of `dtype`, or nil for float weights.
    static func activationFormat(for dtype: DType) -> BlockFormat? {
        guard let format = BlockFormat(dtype), format.isWeightFormat else { return nil }
        return format.elementsPerBlock == 256 ? .q8_K : .q8_0
    }

    /// The activations quantized by the quantizer that writes files, then split into scales,
    /// values and group sums so the dot products read each as a plain array.
    static func quantize(_ x: UnsafePointer<Float>, positions: Int, cols: Int, as format: BlockFormat) -> QuantizedActivations {
        let n = format.elementsPerBlock, stride = format.bytesPerBlock
        let blocks = positions * cols / n
        var encoded = [UInt8](repeating: 0, count: blocks * stride)
        _ = encoded.withUnsafeMutableBytes {
            BlockQuantizer.quantize(UnsafeBufferPointer(start: x, count: positions * cols), as: format, into: $0)
        }
        var activations = QuantizedActivations(
            format: format, scales: [Float](repeating: 0, count: blocks), values: [Int8](repeating: 0, count: positions * cols),
            sums: [], cols: cols)
        let valuesOffset = format == .q8_K ? 4 : BlockFormat.valuesOffset
        encoded.withUnsafeBytes { raw in
            activations.values.withUnsafeMutableBytes { values in
                for b in 0..<blocks {
                    let block = raw.baseAddress! + b * stride
                    activations.scales[b] =
                        format == .q8_K
                        ? Float(bitPattern: UInt32(littleEndian: block.loadUnaligned(as: UInt32.self)))
                        : FloatConversion.float(f16: UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
                    values.baseAddress!.advanced(by: b * n).copyMemory(from: block + valuesOffset, byteCount: n)
                }
            }
        }
        let group = activations.groupSize
        activations.sums = activations.values.withUnsafeBufferPointer { values in
            (0..<(positions * cols / group)).map { g in
                var sum: Int32 = 0
                for j in (g * group)..<(g * group + group) { sum &+= Int32(values[j]) }
                return sum
            }
        }
        return activations
    }

    /// The activations as f32 again, `d · q`, for the tiled prompt product (exact for Q8_0's f16
    /// scale; Q8_K's f32 scale rounds the product once).
    static func dequantize(_ x: QuantizedActivations, positions: Int) -> [Float] {
        let n = x.blockSize
        var out = [Float](repeating: 0, count: positions * x.cols)
        out.withUnsafeMutableBufferPointer { out in
            x.values.withUnsafeBufferPointer { values in
                x.scales.withUnsafeBufferPointer { scales in
                    for i in 0..<(positions * x.cols / n) {
                        let d = scales[i]
                        for j in (i * n)..<(i * n + n) { out[j] = d * Float(values[j]) }
                    }
                }
            }
        }
        return out
    }

    /// One position's activations for one row: values, one scale per block, one sum per group.
    struct Activation {
        let q: UnsafePointer<Int8>
        let d: UnsafePointer<Float>
        let sums: UnsafePointer<Int32>
    }

    /// The f16 at `p + offset` as f32: one `vcvtph2ps` with F16C, else a lookup in `table`
    /// (`WeightMatrix.f16Table`, 256 KB; its lines compete with the weights for cache). Exact either way.
    @inline(__always) static func f16(_ p: UnsafePointer<UInt8>, _ offset: Int, _ table: UnsafePointer<Float>) -> Float {
        let bits = UInt16(littleEndian: UnsafeRawPointer(p).loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        #if LLAMAKIT_F16C
            return Float(Float16(bitPattern: bits))
        #else
            return table[Int(bits)]
        #endif
    }

    /// Σ_j level(j) · q[j] over `count` values, in Int32.
    @inline(__always) static func integerDot(_ count: Int, _ q: UnsafePointer<Int8>, _ level: (Int) -> Int32) -> Int32 {
        var sum: Int32 = 0
        for j in 0..<count { sum &+= level(j) &* Int32(q[j]) }
        return sum
    }

    /// One weight row (`blocks` blocks of `dtype` at `row`) · one position's activations.
    @inline(__always)
    static func dot(_ dtype: DType, _ row: UnsafeRawPointer, _ x: Activation, blocks: Int, table: UnsafePointer<Float>) -> Float {
        let stride = dtype.layout.bytes, n = dtype.layout.elements
        // One loop per type, so the type is decided once per row, not per block.
        @inline(__always) func sum(_ block: (UnsafePointer<UInt8>, UnsafePointer<Int8>, Int) -> Float) -> Float {
            var total: Float = 0
            for b in 0..<blocks { total += block((row + b * stride).assumingMemoryBound(to: UInt8.self), x.q + b * n, b) }
            return total
        }
        switch dtype {
        case .q8_0:
            return sum { w, q, b in
                let weights = UnsafeRawPointer(w + BlockFormat.valuesOffset).assumingMemoryBound(to: Int8.self)
                #if arch(x86_64) && LLAMAKIT_AVX2
                    let dot = AVX2.q8_0Dot(weights, q)
                #else
                    let dot = q8_0Dot(weights, q)
                #endif
                return Float(dot) * (f16(w, 0, table) * x.d[b])
            }
        case .q4_0:
            return sum { w, q, b in
                #if arch(x86_64) && LLAMAKIT_AVX2
                    let dot = AVX2.q4_0Dot(w + BlockFormat.valuesOffset, q, x.sums[b])
                #else
                    let dot = q4_0Dot(w + BlockFormat.valuesOffset, q)
                #endif
                return Float(dot) * (f16(w, 0, table) * x.d[b])
            }
        case .q4_1:
            return sum { w, q, b in
                let dot = integerDot(16, q) { Int32(w[4 + $0] & 0x0F) } &+ integerDot(16, q + 16) { Int32(w[4 + $0] >> 4) }
                return Float(dot) * (f16(w, 0, table) * x.d[b]) + f16(w, 2, table) * (x.d[b] * Float(x.sums[b]))
            }
        case .q5_0, .q5_1:
            let hasMin = dtype == .q5_1
            return sum { w, q, b in
                let qh = UInt32(littleEndian: UnsafeRawPointer(w).loadUnaligned(fromByteOffset: hasMin ? 4 : 2, as: UInt32.self))
                let nibbles = w + (hasMin ? 8 : 6)
                let bias: Int32 = hasMin ? 0 : 16
                let low = integerDot(16, q) { (Int32(nibbles[$0] & 0x0F) | (Int32((qh >> UInt32($0)) & 1) << 4)) &- bias }
                let high = integerDot(16, q + 16) { (Int32(nibbles[$0] >> 4) | (Int32((qh >> UInt32($0 + 16)) & 1) << 4)) &- bias }
                let scaled = Float(low &+ high) * (f16(w, 0, table) * x.d[b])
                return hasMin ? scaled + f16(w, 2, table) * (x.d[b] * Float(x.sums[b])) : scaled
            }
        case .q2_K: return sum { w, q, b in q2K(w, q, x.d[b], x.sums + 16 * b, table) }
        case .q3_K: return sum { w, q, b in q3K(w, q, x.d[b], table) }
        case .q4_K: return sum { w, q, b in affineK(false, w, q, x.d[b], x.sums + 16 * b, table) }
        case .q5_K: return sum { w, q, b in affineK(true, w, q, x.d[b], x.sums + 16 * b, table) }
        case .q6_K: return sum { w, q, b in q6K(w, q, x.d[b], x.sums + 16 * b, table) }
        default: preconditionFailure("no dot kernel for \(dtype)")
        }
    }

    /// Q8_0's integer sum over one block: Σ_j w_j · q_j.
    @inline(__always) static func q8_0Dot(_ weights: UnsafePointer<Int8>, _ q: UnsafePointer<Int8>) -> Int32 {
        integerDot(32, q) { Int32(weights[$0]) }
    }

    /// Q4_0's integer sum over one block: Σ_j (nibble_j − 8) · q_j, low nibbles values 0–15, high 16–31.
    @inline(__always) static func q4_0Dot(_ bytes: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>) -> Int32 {
        integerDot(16, q) { Int32(bytes[$0] & 0x0F) &- 8 } &+ integerDot(16, q + 16) { Int32(bytes[$0] >> 4) &- 8 }
    }

    /// Q2_K: 16 groups of 16, level (q >> shift) & 3, 4-bit scale and min per group.
    @inline(__always)
    static func q2K(
        _ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ dx: Float, _ bsums: UnsafePointer<Int32>, _ table: UnsafePointer<Float>
    )
        -> Float
    {
        var total: Int32 = 0
        var minimum: Int32 = 0
        for g in 0..<16 {
            // Group g: half g / 8, shift 2 · ((g % 8) / 2), bytes 16 · (g % 2) of that half.
            let qs = b + 16 + 32 * (g / 8) + 16 * (g % 2)
            let shift = UInt8(2 * ((g % 8) / 2))
            let dot = integerDot(16, q + 16 * g) { Int32((qs[$0] >> shift) & 3) }
            total &+= Int32(b[g] & 0xF) &* dot
            minimum &+= Int32(b[g] >> 4) &* bsums[g]
        }
        return f16(b, 80, table) * dx * Float(total) - f16(b, 82, table) * dx * Float(minimum)
    }

    /// Q3_K: 16 groups of 16, level ((q >> shift) & 3) − (high bit clear ? 4 : 0), signed 6-bit scales.
    @inline(__always)
    static func q3K(_ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ dx: Float, _ table: UnsafePointer<Float>) -> Float {
        var total: Int32 = 0
        for g in 0..<16 {
            let qs = b + 32 + 32 * (g / 8) + 16 * (g % 2)
            let hmask = b + 16 * (g % 2)
            let shift = UInt8(2 * ((g % 8) / 2))
            let bit = UInt8(1) << UInt8(g / 2)
            let dot = integerDot(16, q + 16 * g) { Int32((qs[$0] >> shift) & 3) &- (hmask[$0] & bit != 0 ? 0 : 4) }
            total &+= KQuantScales.q3K(g, b + 96) &* dot
        }
        return f16(b, 108, table) * dx * Float(total)
    }

    /// Q4_K/Q5_K: 8 groups of 32, 6-bit scale and min per group; Q5_K adds a fifth bit from qh.
    @inline(__always)
    static func affineK(
        _ five: Bool, _ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ dx: Float, _ bsums: UnsafePointer<Int32>,
        _ table: UnsafePointer<Float>
    ) -> Float {
        #if arch(x86_64) && LLAMAKIT_AVX2
            let (total, minimum) = five ? AVX2.q5KSums(b, q, bsums) : AVX2.q4KSums(b, q, bsums)
        #else
            let (total, minimum) = affineKSums(five, b, q, bsums)
        #endif
        return f16(b, 0, table) * dx * Float(total) - f16(b, 2, table) * dx * Float(minimum)
    }

    /// Q4_K/Q5_K's integer sums: Σ_g scale_g · Σ_j level_j · q_j and Σ_g min_g · Σ_j q_j.
    @inline(__always)
    static func affineKSums(_ five: Bool, _ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ bsums: UnsafePointer<Int32>)
        -> (total: Int32, minimum: Int32)
    {
        let qs = b + (five ? 48 : 16)
        let qh = b + 16
        var total: Int32 = 0
        var minimum: Int32 = 0
        for pair in 0..<4 {
            let (sc1, m1) = KQuantScales.k4(2 * pair, b + 4)
            let (sc2, m2) = KQuantScales.k4(2 * pair + 1, b + 4)
            let nibbles = qs + 32 * pair
            let lowBit = UInt8(2 * pair), highBit = UInt8(2 * pair + 1)
            let low =
                five
                ? integerDot(32, q + 64 * pair) { Int32(nibbles[$0] & 0xF) | (Int32((qh[$0] >> lowBit) & 1) << 4) }
                : integerDot(32, q + 64 * pair) { Int32(nibbles[$0] & 0xF) }
            let high =
                five
                ? integerDot(32, q + 64 * pair + 32) { Int32(nibbles[$0] >> 4) | (Int32((qh[$0] >> highBit) & 1) << 4) }
                : integerDot(32, q + 64 * pair + 32) { Int32(nibbles[$0] >> 4) }
            total &+= Int32(sc1) &* low &+ Int32(sc2) &* high
            minimum &+= Int32(m1) &* (bsums[4 * pair] &+ bsums[4 * pair + 1]) &+ Int32(m2) &* (bsums[4 * pair + 2] &+ bsums[4 * pair + 3])
        }
        return (total, minimum)
    }

    /// Q6_K: 16 groups of 16, level (4 low bits from ql, 2 high bits from qh) − 32, int8 scales.
    @inline(__always)
    static func q6K(
        _ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>, _ dx: Float, _ bsums: UnsafePointer<Int32>, _ table: UnsafePointer<Float>
    ) -> Float {
        #if arch(x86_64) && LLAMAKIT_AVX2
            let total = AVX2.q6KTotal(b, q, bsums)
        #else
            let total = q6KTotal(b, q)
        #endif
        return f16(b, 208, table) * dx * Float(total)
    }

    /// Q6_K's integer sum: Σ_g scale_g · Σ_j (level_j − 32) · q_j.
    @inline(__always)
    static func q6KTotal(_ b: UnsafePointer<UInt8>, _ q: UnsafePointer<Int8>) -> Int32 {
        let scales = UnsafeRawPointer(b + 192).assumingMemoryBound(to: Int8.self)
        var total: Int32 = 0
        for g in 0..<16 {
            // Group g: half g / 8; quarter (g % 8) / 2 picks the ql offset, nibble and qh bits; g % 2 the 16-value half.
            let half = g / 8, quarter = (g % 8) / 2, part = g % 2
            let ql = b + 64 * half + 32 * (quarter % 2) + 16 * part
            let qh = b + 128 + 32 * half + 16 * part
            let nibbleShift = UInt8(4 * (quarter / 2)), highShift = UInt8(2 * quarter)
            let dot = integerDot(16, q + 16 * g) { Int32(((ql[$0] >> nibbleShift) & 0xF) | (((qh[$0] >> highShift) & 3) << 4)) &- 32 }
            total &+= Int32(scales[8 * half + 2 * quarter + part]) &* dot
        }
        return total
    }

    /// Rows `range` of a block-quantized matrix times every position of `x`.
    static func rows(
        _ w: WeightMatrix, _ range: Range<Int>, _ x: QuantizedActivations, _ positions: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let blocks = w.cols / w.dtype.layout.elements
        let activationBlocks = w.cols / x.blockSize
        let groups = w.cols / x.groupSize
        WeightMatrix.f16Table.withUnsafeBufferPointer { table in
            x.values.withUnsafeBufferPointer { values in
                x.scales.withUnsafeBufferPointer { scales in
                    x.sums.withUnsafeBufferPointer { sums in
                        for r in range {
                            let row = w.base + r * w.rowBytes
                            for t in 0..<positions {
                                let activation = Activation(
                                    q: values.baseAddress! + t * w.cols, d: scales.baseAddress! + t * activationBlocks,
                                    sums: sums.baseAddress! + t * groups)
                                out[t * w.rows + r] = dot(w.dtype, row, activation, blocks: blocks, table: table.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
    }
}
