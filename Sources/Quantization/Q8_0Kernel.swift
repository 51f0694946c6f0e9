import TensorCore

/// Q8_0 with SIMD, bit-identical to ggml's `quantize_row_q8_0_ref` (`docs/formats.md`
/// §4.2): `d = amax / 127`, `id = d ? 1 / d : 0`, `q = roundf(x * id)`.
///
/// Kernel file: raw pointers stay inside these functions. Each 32-element block is four
/// `SIMD8<UInt32>` bit patterns, so f32, f16 and bf16 sources are quantized straight from the
/// mapped checkpoint without an f32 copy. How the integer-only steps stay exact:
/// - `amax`: for non-negative floats (and +inf) the bit patterns order as the values do, so an
///   integer max of `bits & 0x7FFF_FFFF` is `max |x|`; a result ≥ `0x7F80_0000` means the block
///   holds an inf or NaN, which the fast path never quantizes.
/// - `roundf(x * id)`: `|x * id| = |x| * id` exactly (IEEE products are sign-symmetric) and is at
///   most about 127, so `m = a + 1.5·2²³` rounds `a` to the nearest integer (ties to even) in
///   the low mantissa bits of `m`; `a − (m − 1.5·2²³)` is exact and equals 0.5 only at a tie
///   that went down, which is bumped up: ties away from zero, as `roundf`. The sign is put back
///   with a two's-complement negate.
/// - A block whose `1 / d` overflows (subnormal `d`) takes ggml's scalar path.
enum Q8_0Kernel {
    /// 1.5·2²³: adding it to a float in [0, 2²²) leaves the value rounded to an integer.
    private static let magic: Float = 12_582_912
    private static let magicBits: UInt32 = 0x4B40_0000

    /// Quantizes `blocks` blocks of little-endian `dtype` (f32, f16 or bf16) values, stopping
    /// before the first block that holds an inf or NaN.
    /// - Returns: how many blocks were written (0 for another dtype).
    static func quantize(_ raw: UnsafeRawBufferPointer, dtype: DType, blocks: Int, into out: UnsafeMutableRawBufferPointer) -> Int {
        guard let source = raw.baseAddress, let target = out.baseAddress, blocks > 0 else { return 0 }
        precondition(raw.count >= blocks * 32 * dtype.itemSize && out.count >= blocks * BlockFormat.q8_0.bytesPerBlock)
        switch dtype {
        case .f32:
            return quantize(source, blocks: blocks, into: target) { $0.loadUnaligned(fromByteOffset: $1 * 4, as: SIMD8<UInt32>.self) }
        case .bf16:
            return quantize(source, blocks: blocks, into: target) {
                SIMD8<UInt32>(truncatingIfNeeded: $0.loadUnaligned(fromByteOffset: $1 * 2, as: SIMD8<UInt16>.self)) &<< 16
            }
        case .f16:
            return quantize(source, blocks: blocks, into: target) { base, index in
                let halves = base.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt16>.self)
                var bits = SIMD8<UInt32>()
                for lane in 0..<8 { bits[lane] = Float(Float16(bitPattern: halves[lane])).bitPattern }
                return bits
            }
        default: return 0
        }
    }

    /// One kernel per source type: `load(base, element)` gives 8 f32 bit patterns.
    @inline(__always)
    private static func quantize(
        _ source: UnsafeRawPointer, blocks: Int, into out: UnsafeMutableRawPointer, load: (UnsafeRawPointer, Int) -> SIMD8<UInt32>
    ) -> Int {
        let magnitude = SIMD8<UInt32>(repeating: 0x7FFF_FFFF)
        let stride = BlockFormat.q8_0.bytesPerBlock, values = BlockFormat.valuesOffset
        for block in 0..<blocks {
            let v0 = load(source, block * 32), v1 = load(source, block * 32 + 8)
            let v2 = load(source, block * 32 + 16), v3 = load(source, block * 32 + 24)
            let amaxBits = pointwiseMax(pointwiseMax(v0 & magnitude, v1 & magnitude), pointwiseMax(v2 & magnitude, v3 & magnitude)).max()
            guard amaxBits < 0x7F80_0000 else { return block }
            let d = Float(bitPattern: amaxBits) / 127
            let id: Float = d != 0 ? 1 / d : 0
            let q = out + block * stride
            q.storeBytes(of: FloatConversion.f16Bits(d).littleEndian, as: UInt16.self)
            let finite = id.isFinite
            func store(_ bits: SIMD8<UInt32>, _ offset: Int) {
                if finite {
                    (q + values + offset).storeBytes(of: round(bits, id), as: SIMD8<Int8>.self)
                    return
                }
                for lane in 0..<8 {
                    let value = BlockQuantizer.x86Int32((Float(bitPattern: bits[lane]) * id).rounded(.toNearestOrAwayFromZero))
                    (q + values + offset + lane).storeBytes(of: Int8(truncatingIfNeeded: value), as: Int8.self)
                }
            }
            store(v0, 0)
            store(v1, 8)
            store(v2, 16)
            store(v3, 24)
        }
        return blocks
    }

    /// `roundf(x * id)` for 8 finite values with a finite `id` (see the type's comment).
    @inline(__always)
    private static func round(_ bits: SIMD8<UInt32>, _ id: Float) -> SIMD8<Int8> {
        let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: SIMD8<Float>.self) * id
        let m = a + magic
        var n = unsafeBitCast(m, to: SIMD8<UInt32>.self) &- magicBits
        n.replace(with: n &+ 1, where: a - (m - magic) .== 0.5)
        let sign = unsafeBitCast(unsafeBitCast(bits, to: SIMD8<Int32>.self) &>> 31, to: SIMD8<UInt32>.self)
        return SIMD8<Int8>(truncatingIfNeeded: (n ^ sign) &- sign)
    }
}
