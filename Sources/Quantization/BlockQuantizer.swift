import TensorCore

/// Q8_0 and Q4_0 quantization, bit-identical to ggml's `quantize_row_q8_0_ref` and
/// `quantize_row_q4_0_ref` (`docs/formats.md` §3.3, §4), and their dequantization.
///
/// Kernel file: raw buffers stay inside these functions. Every product and sum is a separately
/// rounded f32 operation, as in the C reference (no fused multiply-add).
public enum BlockQuantizer {
    /// Quantizes `source` (a whole number of 32-element blocks) into `destination`.
    /// Q8_0 goes through the SIMD `Q8_0Kernel`; the scalar `quantizeQ8_0` below is ggml's
    /// recipe as written, kept for blocks with non-finite values and as the tests' oracle.
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
        }
        return nonFinite
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

    /// Expands `source` (whole blocks of `format`) into f32 values.
    public static func dequantize(
        _ source: UnsafeRawBufferPointer, as format: BlockFormat, into destination: UnsafeMutableBufferPointer<Float>
    ) {
        let stride = format.bytesPerBlock, n = format.elementsPerBlock
        let blocks = source.count / stride
        precondition(destination.count >= blocks * n)
        guard let base = source.baseAddress, let out = destination.baseAddress else { return }
        switch format {
        case .q8_0: for block in 0..<blocks { dequantizeQ8_0(base + block * stride, into: out + block * n) }
        case .q4_0: for block in 0..<blocks { dequantizeQ4_0(base + block * stride, into: out + block * n) }
        }
    }

    @inline(__always) private static func scale(_ block: UnsafeRawPointer) -> Float {
        FloatConversion.float(f16: UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
    }

    @inline(__always) private static func dequantizeQ8_0(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = scale(block)
        let q = (block + BlockFormat.valuesOffset).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { out[j] = Float(q[j]) * d }
    }

    @inline(__always) private static func dequantizeQ4_0(_ block: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>) {
        let d = scale(block)
        let q = (block + BlockFormat.valuesOffset).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            out[j] = Float(Int32(q[j] & 0x0F) - 8) * d
            out[j + 16] = Float(Int32(q[j] >> 4) - 8) * d
        }
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
