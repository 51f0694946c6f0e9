/// ggml's `dequantize_row_*` for every block format LlamaKit reads, bit-identical
/// (`docs/formats.md` §4): each value is computed with the same float operations in the same
/// order as the C code.
///
/// Kernel file: raw pointers stay inside these functions. `b` is one block, `y` its
/// `elementsPerBlock` outputs.
enum BlockDequantizer {
    @inline(__always) static func f16(_ b: UnsafeRawPointer, _ offset: Int) -> Float { KQuantizers.loadF16(b, offset) }

    @inline(__always) static func byte(_ b: UnsafeRawPointer, _ offset: Int) -> UInt8 { b.load(fromByteOffset: offset, as: UInt8.self) }

    static func block(_ format: BlockFormat, _ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        switch format {
        case .q8_0:
            let d = f16(b, 0)
            for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
        case .q4_0:
            let d = f16(b, 0)
            for j in 0..<16 {
                y[j] = Float(Int32(byte(b, 2 + j) & 0x0F) - 8) * d
                y[j + 16] = Float(Int32(byte(b, 2 + j) >> 4) - 8) * d
            }
        case .q4_1:
            let d = f16(b, 0)
            let m = f16(b, 2)
            for j in 0..<16 {
                y[j] = Float(byte(b, 4 + j) & 0x0F) * d + m
                y[j + 16] = Float(byte(b, 4 + j) >> 4) * d + m
            }
        case .q5_0, .q5_1:
            fiveBit(format == .q5_1, b, y)
        case .q8_1:
            let d = f16(b, 0)
            for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) * d }
        case .q2_K: q2K(b, y)
        case .q3_K: q3K(b, y)
        case .q4_K, .q5_K: affineK(format == .q5_K, b, y)
        case .q6_K: q6K(b, y)
        case .q8_K:
            let d = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(as: UInt32.self)))
            for j in 0..<256 { y[j] = d * Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) }
        }
    }

    private static func fiveBit(_ hasMin: Bool, _ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        let m: Float = hasMin ? f16(b, 2) : 0
        let qhOffset = hasMin ? 4 : 2
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: qhOffset, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(b, qhOffset + 4 + j)
            let high0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
            let high1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
            if hasMin {
                y[j] = Float(Int32((q & 0x0F) | high0)) * d + m
                y[j + 16] = Float(Int32((q >> 4) | high1)) * d + m
            } else {
                y[j] = Float(Int32((q & 0x0F) | high0) - 16) * d
                y[j + 16] = Float(Int32((q >> 4) | high1) - 16) * d
            }
        }
    }

    private static func q2K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 80)
        let dmin = f16(b, 82)
        var out = y
        var scale = 0
        for half in 0..<2 {
            let q = 16 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let sc = byte(b, scale)
                    scale += 1
                    let dl = d * Float(sc & 0xF)
                    let ml = dmin * Float(sc >> 4)
                    for l in 0..<16 { out[l] = dl * Float((byte(b, q + 16 * part + l) >> shift) & 3) - ml }
                    out += 16
                }
            }
        }
    }

    private static func q3K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 108)
        var out = y
        var scale = 0
        var mask: UInt8 = 1
        for half in 0..<2 {
            let q = 32 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let dl = d * Float(KQuantScales.q3K(scale, b.assumingMemoryBound(to: UInt8.self) + 96))
                    scale += 1
                    for l in 0..<16 {
                        let low = Int32((byte(b, q + 16 * part + l) >> shift) & 3)
                        let high: Int32 = byte(b, 16 * part + l) & mask != 0 ? 0 : 4
                        out[l] = dl * Float(low - high)
                    }
                    out += 16
                }
                mask <<= 1
            }
        }
    }

    private static func affineK(_ fiveBit: Bool, _ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        let dmin = f16(b, 2)
        let packed = b.assumingMemoryBound(to: UInt8.self) + 4
        let qs = fiveBit ? 48 : 16
        var out = y
        var u1: UInt8 = 1
        var u2: UInt8 = 2
        for index in 0..<4 {
            let (sc1, m1) = KQuantScales.k4(2 * index, packed)
            let (sc2, m2) = KQuantScales.k4(2 * index + 1, packed)
            let d1 = d * Float(sc1)
            let min1 = dmin * Float(m1)
            let d2 = d * Float(sc2)
            let min2 = dmin * Float(m2)
            for l in 0..<32 {
                let q = byte(b, qs + 32 * index + l)
                let high: UInt8 = fiveBit && byte(b, 16 + l) & u1 != 0 ? 16 : 0
                out[l] = d1 * Float((q & 0xF) + high) - min1
            }
            for l in 0..<32 {
                let q = byte(b, qs + 32 * index + l)
                let high: UInt8 = fiveBit && byte(b, 16 + l) & u2 != 0 ? 16 : 0
                out[32 + l] = d2 * Float((q >> 4) + high) - min2
            }
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    private static func q6K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 208)
        for half in 0..<2 {
            let ql = 64 * half
            let qh = 128 + 32 * half
            let sc = 192 + 8 * half
            let out = y + 128 * half
            for l in 0..<32 {
                let scale = l / 16
                let h = byte(b, qh + l)
                let q1 = Int32((byte(b, ql + l) & 0xF) | ((h & 3) << 4)) - 32
                let q2 = Int32((byte(b, ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int32((byte(b, ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int32((byte(b, ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32
                out[l] = d * Float(b.load(fromByteOffset: sc + scale, as: Int8.self)) * Float(q1)
                out[l + 32] = d * Float(b.load(fromByteOffset: sc + scale + 2, as: Int8.self)) * Float(q2)
                out[l + 64] = d * Float(b.load(fromByteOffset: sc + scale + 4, as: Int8.self)) * Float(q3)
                out[l + 96] = d * Float(b.load(fromByteOffset: sc + scale + 6, as: Int8.self)) * Float(q4)
            }
        }
    }
}
