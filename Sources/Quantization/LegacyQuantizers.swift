/// ggml's 32-value quantizers Q4_1, Q5_0, Q5_1 and Q8_1, and the importance-weighted paths of
/// Q4_0, Q4_1, Q5_0, Q5_1, byte-identical to `quantize_row_qN_ref` / `quantize_row_qN_impl`
/// (`docs/formats.md` §4.4, §4.7).
///
/// Kernel file: raw pointers stay inside these functions. `x` is one block of 32 values, `y`
/// its output block.
enum LegacyQuantizers {
    /// C's `(int8_t)f` as x86 compiles it: truncate to int32 (`cvttss2si`), keep the low byte.
    @inline(__always) static func cInt8(_ value: Float) -> Int32 {
        Int32(Int8(truncatingIfNeeded: BlockQuantizer.x86Int32(value)))
    }

    @inline(__always) static func minMax(_ x: UnsafePointer<Float>) -> (min: Float, max: Float) {
        var low = Float.greatestFiniteMagnitude
        var high = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < low { low = x[j] }
            if x[j] > high { high = x[j] }
        }
        return (low, high)
    }

    /// The value of largest magnitude, the first one on ties (`amax < |v|`).
    @inline(__always) static func extreme(_ x: UnsafePointer<Float>) -> Float {
        var amax: Float = 0
        var extreme: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            extreme = x[j]
        }
        return extreme
    }

    /// Stores 5-bit levels: low nibbles as Q4 (value j and j+16 share byte j), fifth bits in `qh`.
    @inline(__always) static func packFiveBit(_ level: (Int) -> UInt8, qh: UnsafeMutableRawPointer, qs: UnsafeMutablePointer<UInt8>) {
        var high: UInt32 = 0
        for j in 0..<16 {
            let a = level(j)
            let b = level(j + 16)
            qs[j] = (a & 0x0F) | ((b & 0x0F) << 4)
            high |= UInt32((a & 0x10) >> 4) << j
            high |= UInt32((b & 0x10) >> 4) << (j + 16)
        }
        qh.storeBytes(of: high.littleEndian, as: UInt32.self)
    }

    @inline(__always) static func packFourBit(_ level: (Int) -> UInt8, qs: UnsafeMutablePointer<UInt8>) {
        for j in 0..<16 { qs[j] = level(j) | (level(j + 16) << 4) }
    }

    // MARK: without importance weights

    /// Q4_1/Q5_1's scale over `levels` steps from the block's min: stores `d` and the min as
    /// f16, returns the unrounded min and `1/d` (0 for a constant block) the values are scaled by.
    @inline(__always) static func minAndInverseScale(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, levels: Float
    ) -> (low: Float, id: Float) {
        let (low, high) = minMax(x)
        let d = (high - low) / levels
        KQuantizers.storeF16(d, y, 0)
        KQuantizers.storeF16(low, y, 2)
        return (low, d != 0 ? 1 / d : 0)
    }

    static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (low, id) = minAndInverseScale(x, y, levels: 15)
        packFourBit({ UInt8(truncatingIfNeeded: min(15, cInt8((x[$0] - low) * id + 0.5))) }, qs: y.assumingMemoryBound(to: UInt8.self) + 4)
    }

    static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let d = extreme(x) / -16
        let id: Float = d != 0 ? 1 / d : 0
        KQuantizers.storeF16(d, y, 0)
        packFiveBit(
            { UInt8(truncatingIfNeeded: min(31, cInt8(x[$0] * id + 16.5))) }, qh: y + 2, qs: y.assumingMemoryBound(to: UInt8.self) + 6)
    }

    static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let (low, id) = minAndInverseScale(x, y, levels: 31)
        packFiveBit(
            { UInt8(truncatingIfNeeded: BlockQuantizer.x86Int32((x[$0] - low) * id + 0.5)) }, qh: y + 4,
            qs: y.assumingMemoryBound(to: UInt8.self) + 8)
    }

    /// Q8_1: Q8_0's values plus `s = d · Σq` (the activation blocks of Q4_1/Q5_1 dot products).
    static func q8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = amax > abs(x[j]) ? amax : abs(x[j]) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        KQuantizers.storeF16(d, y, 0)
        let qs = UnsafeMutableRawPointer(y + 4).assumingMemoryBound(to: Int8.self)
        var sum: Int32 = 0
        for j in 0..<32 {
            qs[j] = Int8(truncatingIfNeeded: BlockQuantizer.x86Int32((x[j] * id).rounded(.toNearestOrAwayFromZero)))
            sum += Int32(qs[j])
        }
        KQuantizers.storeF16(Float(sum) * d, y, 2)
    }

    // MARK: with importance weights (per row: σ² is the mean square of the whole row)

    static func weighted(
        _ format: BlockFormat, _ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, weights qw: UnsafePointer<Float>, sigma2: Float,
        _ s: KQuantizers.Scratch
    ) {
        KQuantizers.importance(qw, x, sigma2: sigma2, 32, into: s.weights)
        let bytes = y.assumingMemoryBound(to: UInt8.self)
        switch format {
        case .q4_0, .q5_0:
            let five = format == .q5_0
            let d = ScaleSearch.symmetric(32, five ? 16 : 8, x, s.signedLevels, weights: s.weights)
            KQuantizers.storeF16(d, y, 0)
            if five { packFiveBit({ s.levels[$0] }, qh: y + 2, qs: bytes + 6) } else { packFourBit({ s.levels[$0] }, qs: bytes + 2) }
        case .q4_1, .q5_1:
            let five = format == .q5_1
            let found = ScaleSearch.affine(
                32, five ? 31 : 15, x, weights: s.weights, s.levels, scratch: s.auxiliary,
                .init(rmin: -0.9, rdelta: 0.05, steps: 36, absolute: false))
            KQuantizers.storeF16(found.scale, y, 0)
            KQuantizers.storeF16(-found.min, y, 2)
            if five { packFiveBit({ s.levels[$0] }, qh: y + 4, qs: bytes + 8) } else { packFourBit({ s.levels[$0] }, qs: bytes + 4) }
        default:
            preconditionFailure("\(format) has no importance-weighted 32-value path")
        }
    }
}
