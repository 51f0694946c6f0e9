import TensorCore

/// Quantization into every `BlockFormat`, bit-identical to ggml's reference quantizers
/// (`quantize_qN` of `ggml-quants.c` built with `-ffp-contract=off`; `docs/formats.md` §3.3, §4),
/// and dequantization.
///
/// Kernel file: raw buffers stay inside these functions. Every product and sum is a separately
/// rounded f32 operation, as in the C reference (no fused multiply-add).
public enum BlockQuantizer {
    /// Quantizes `source` (a whole number of blocks) into `destination` without importance
    /// weights: ggml's `quantize_row_*_ref`. Q8_0 goes through the SIMD `Q8_0Kernel`; the
    /// scalar `quantizeQ8_0` below is ggml's recipe as written, kept for blocks with non-finite
    /// values and as the tests' oracle.
    /// - Returns: how many inputs were NaN or infinite (the caller decides the policy).
    @discardableResult
    public static func quantize(
        _ source: UnsafeBufferPointer<Float>, as format: BlockFormat, into destination: UnsafeMutableRawBufferPointer
    ) -> Int {
        let n = format.elementsPerBlock, stride = format.bytesPerBlock
        precondition(source.count % n == 0 && destination.count >= source.count / n * stride)
        var nonFinite = 0
        let blocks = source.count / n
        switch format {
        case .q8_0:
            // The SIMD kernel takes every run of finite blocks; a block with an inf or NaN is
            // quantized here as ggml does and counted.
            var block = 0
            while block < blocks {
                block += Q8_0Kernel.quantize(
                    UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(source)[(block * n * 4)...]), dtype: .f32,
                    blocks: blocks - block, into: UnsafeMutableRawBufferPointer(rebasing: destination[(block * stride)...]))
                if block < blocks {
                    nonFinite += quantizeQ8_0(source, block * n, destination, block * stride)
                    block += 1
                }
            }
        case .q4_0:
            for block in 0..<blocks { nonFinite += quantizeQ4_0(source, block * n, destination, block * stride) }
        default:
            nonFinite = countNonFinite(source)
            guard let x = source.baseAddress, let y = destination.baseAddress else { return nonFinite }
            let scratch = KQuantizers.Scratch()
            defer { scratch.deallocate() }
            for block in 0..<blocks { quantizeBlock(format, x + block * n, y + block * stride, weights: nil, scratch) }
        }
        return nonFinite
    }

    /// Quantizes whole rows of `rowLength` values with importance weights (one per column, the
    /// same for every row): ggml's `quantize_qN(src, dst, nrow, n_per_row, quant_weights)`, which
    /// takes the `_impl` path. Formats without one (Q8_0) ignore the weights, as ggml does.
    /// - Returns: how many inputs were NaN or infinite.
    @discardableResult
    public static func quantize(
        rows source: UnsafeBufferPointer<Float>, rowLength: Int, as format: BlockFormat, importance: UnsafeBufferPointer<Float>,
        into destination: UnsafeMutableRawBufferPointer
    ) -> Int {
        guard format.takesImportance else { return quantize(source, as: format, into: destination) }
        let n = format.elementsPerBlock, stride = format.bytesPerBlock
        precondition(rowLength > 0 && rowLength % n == 0 && source.count % rowLength == 0 && importance.count == rowLength)
        precondition(destination.count >= source.count / n * stride)
        let nonFinite = countNonFinite(source)
        guard let x = source.baseAddress, let y = destination.baseAddress, let qw = importance.baseAddress else { return nonFinite }
        let scratch = KQuantizers.Scratch()
        defer { scratch.deallocate() }
        let rowBytes = rowLength / n * stride
        for row in 0..<(source.count / rowLength) {
            let rowStart = x + row * rowLength
            // The 32-value formats weigh by the mean square of the whole row.
            let sigma2 = n == 32 ? KQuantizers.sumOfSquares(rowStart, rowLength) / Float(rowLength) : 0
            for block in 0..<(rowLength / n) {
                let out = y + row * rowBytes + block * stride
                if n == 32 {
                    LegacyQuantizers.weighted(format, rowStart + block * n, out, weights: qw + block * n, sigma2: sigma2, scratch)
                } else {
                    quantizeBlock(format, rowStart + block * n, out, weights: qw + block * n, scratch)
                }
            }
        }
        return nonFinite
    }

    private static func countNonFinite(_ source: UnsafeBufferPointer<Float>) -> Int {
        guard FloatConversion.firstBeyond(.greatestFiniteMagnitude, in: source) != nil else { return 0 }
        var count = 0
        for value in source where !value.isFinite { count += 1 }
        return count
    }

    /// One block of a format other than Q8_0/Q4_0 (whose unweighted paths are above).
    private static func quantizeBlock(
        _ format: BlockFormat, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights: UnsafePointer<Float>?,
        _ scratch: KQuantizers.Scratch
    ) {
        switch format {
        case .q4_1: LegacyQuantizers.q4_1(x, y)
        case .q5_0: LegacyQuantizers.q5_0(x, y)
        case .q5_1: LegacyQuantizers.q5_1(x, y)
        case .q8_1: LegacyQuantizers.q8_1(x, y)
        case .q2_K: KQuantizers.q2K(x, y, weights: weights, scratch)
        case .q3_K: KQuantizers.q3K(x, y, weights: weights, scratch)
        case .q4_K: KQuantizers.q4K(x, y, weights: weights, scratch)
        case .q5_K: KQuantizers.q5K(x, y, weights: weights, scratch)
        case .q6_K: KQuantizers.q6K(x, y, weights: weights, scratch)
        case .q8_K: KQuantizers.q8K(x, y)
        case .q8_0, .q4_0: preconditionFailure("\(format) is quantized by its own path")
        }
    }

    /// - Returns: the block's count of non-finite inputs (counted in the pass that finds amax).
    @inline(__always) static func quantizeQ8_0(
        _ x: UnsafeBufferPointer<Float>, _ start: Int, _ out: UnsafeMutableRawBufferPointer, _ offset: Int
    ) -> Int {
        var amax: Float = 0
        var nonFinite = 0
        for j in 0..<32 {
            amax = max(amax, abs(x[start + j]))
            if !x[start + j].isFinite { nonFinite += 1 }
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: FloatConversion.f16Bits(d).littleEndian, toByteOffset: offset, as: UInt16.self)
        for j in 0..<32 {
            let scaled = x[start + j] * id
            let q = x86Int32(scaled.rounded(.toNearestOrAwayFromZero))
            out.storeBytes(of: Int8(truncatingIfNeeded: q), toByteOffset: offset + BlockFormat.valuesOffset + j, as: Int8.self)
        }
        return nonFinite
    }

    @inline(__always) private static func quantizeQ4_0(
        _ x: UnsafeBufferPointer<Float>, _ start: Int, _ out: UnsafeMutableRawBufferPointer, _ offset: Int
    ) -> Int {
        var amax: Float = 0
        var extreme: Float = 0
        var nonFinite = 0
        for j in 0..<32 {
            let value = x[start + j]
            if !value.isFinite { nonFinite += 1 }
            if amax < abs(value) {
                amax = abs(value)
                extreme = value
            }
        }
        let d = extreme / -8
        let id: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: FloatConversion.f16Bits(d).littleEndian, toByteOffset: offset, as: UInt16.self)
        for j in 0..<16 {
            let a = x[start + j] * id
            let b = x[start + j + 16] * id
            let qa = min(15, x86Int32(a + 8.5))
            let qb = min(15, x86Int32(b + 8.5))
            out.storeBytes(
                of: UInt8(truncatingIfNeeded: qa | (qb << 4)), toByteOffset: offset + BlockFormat.valuesOffset + j, as: UInt8.self)
        }
        return nonFinite
    }

    /// f32 → int32 truncating toward zero as x86 `cvttss2si` does (what ggml's C casts compile
    /// to): NaN and out-of-range values give `Int32.min` instead of trapping. Only reachable for
    /// non-finite inputs or blocks whose scale is subnormal.
    @inline(__always) static func x86Int32(_ value: Float) -> Int32 {
        guard value > -2_147_483_904, value < 2_147_483_648 else { return Int32.min }
        return Int32(value)
    }

    /// Expands `source` (whole blocks of `format`) into f32 values, as ggml's `dequantize_row_*`.
    public static func dequantize(
        _ source: UnsafeRawBufferPointer, as format: BlockFormat, into destination: UnsafeMutableBufferPointer<Float>
    ) {
        let stride = format.bytesPerBlock, n = format.elementsPerBlock
        let blocks = source.count / stride
        precondition(destination.count >= blocks * n)
        guard let base = source.baseAddress, let out = destination.baseAddress else { return }
        for block in 0..<blocks { BlockDequantizer.block(format, base + block * stride, out + block * n) }
    }
}

extension BlockQuantizer {
    /// Q8_0 straight from little-endian f32, f16 or bf16 values (`raw`, a whole number of
    /// blocks), without an f32 copy; bit-identical to widening then `quantize(_:as:into:)`.
    /// - Returns: false when a value is inf or NaN, or `dtype` is another type: the caller then
    ///   takes the widening path, which names the element.
    public static func quantizeQ8_0(_ raw: UnsafeRawBufferPointer, dtype: DType, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        switch dtype {
        case .f32, .f16, .bf16: break
        default: return false
        }
        let blockSource = BlockFormat.q8_0.elementsPerBlock * dtype.itemSize
        guard raw.count % blockSource == 0 else { return false }
        let blocks = raw.count / blockSource
        precondition(destination.count >= blocks * BlockFormat.q8_0.bytesPerBlock)
        return Q8_0Kernel.quantize(raw, dtype: dtype, blocks: blocks, into: destination) == blocks
    }
}
