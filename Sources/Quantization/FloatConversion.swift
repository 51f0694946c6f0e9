import TensorCore

/// f32 ↔ f16 and f32 ↔ bf16 exactly as ggml converts (`docs/formats.md` §4.1).
///
/// Kernel file: raw buffers stay inside these functions.
public enum FloatConversion {
    /// ggml `ggml_compute_fp32_to_bf16`: NaN → quiet NaN, otherwise round to nearest even
    /// (overflow rounds to ±inf).
    @inline(__always) public static func bf16Bits(_ value: Float) -> UInt16 {
        let u = value.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (u >> 16) | 0x0040) }
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    @inline(__always) public static func float(bf16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// ggml `ggml_compute_fp32_to_fp16`: round to nearest even, subnormals kept, overflow to
    /// ±inf, NaN → 0x7E00 with the sign.
    @inline(__always) public static func f16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return value.sign == .minus ? 0xFE00 : 0x7E00 }
        return Float16(value).bitPattern
    }

    @inline(__always) public static func float(f16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// OCP FP8 E4M3 "fn" (torch.float8_e4m3fn): sign, 4 exponent bits (bias 7), 3 mantissa bits,
    /// subnormals at exponent 0, no infinities, NaN only at S.1111.111 (`docs/formats.md` §2.11).
    /// Every value is exact in f32.
    @inline(__always) public static func float(e4m3fn bits: UInt8) -> Float {
        let sign: Float = bits & 0x80 == 0 ? 1 : -1
        let exponent = Int(bits >> 3 & 0x0F)
        let mantissa = Float(bits & 0x07)
        if exponent == 0x0F && bits & 0x07 == 0x07 { return .nan }
        if exponent == 0 { return sign * mantissa * 0x1p-9 }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// The 256 values of `float(e4m3fn:)`, for dequantizing whole rows.
    public static let e4m3fnTable: [Float] = (0...255).map { float(e4m3fn: UInt8($0)) }

    /// Converts `source` to little-endian f16 into `destination` (2 bytes per value).
    public static func toF16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= source.count * 2)
        for (index, value) in source.enumerated() {
            destination.storeBytes(of: f16Bits(value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
        }
    }

    /// Converts `source` to little-endian bf16 into `destination` (2 bytes per value).
    public static func toBF16(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= source.count * 2)
        for (index, value) in source.enumerated() {
            destination.storeBytes(of: bf16Bits(value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
        }
    }
}

extension FloatConversion {
    /// Widens little-endian f32/f16/bf16 values to f32 (exact for every input).
    /// - Returns: false for a dtype that is not a float of those widths.
    public static func widen(_ source: UnsafeRawBufferPointer, dtype: DType, into destination: UnsafeMutableBufferPointer<Float>) -> Bool {
        switch dtype {
        case .f32:
            for index in 0..<destination.count {
                destination[index] = Float(
                    bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            }
        case .bf16, .f16:
            guard let from = source.baseAddress, let to = destination.baseAddress else { return true }
            let count = destination.count
            let widened = dtype == .f16 ? widenF16(from, to, count) : widenBF16(from, to, count)
            for index in widened..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                destination[index] = dtype == .f16 ? float(f16: bits) : float(bf16: bits)
            }
        default:
            return false
        }
        return true
    }

    /// f16 → f32 eight values at a time (one `vcvtph2ps` with F16C); the same conversion as
    /// `float(f16:)`. Assumes a little-endian host, as the rest of the readers do.
    /// - Returns: how many values it widened (a multiple of 8; the caller does the rest).
    private static func widenF16(_ from: UnsafeRawPointer, _ to: UnsafeMutablePointer<Float>, _ count: Int) -> Int {
        var index = 0
        while index + 8 <= count {
            let halves = from.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<Float16>.self)
            UnsafeMutableRawPointer(to + index).storeBytes(of: SIMD8<Float>(halves), as: SIMD8<Float>.self)
            index += 8
        }
        return index
    }

    /// bf16 → f32 eight values at a time: each value's bits become the high half of an f32.
    /// - Returns: how many values it widened (a multiple of 8).
    private static func widenBF16(_ from: UnsafeRawPointer, _ to: UnsafeMutablePointer<Float>, _ count: Int) -> Int {
        var index = 0
        while index + 8 <= count {
            let halves = from.loadUnaligned(fromByteOffset: index * 2, as: SIMD8<UInt16>.self)
            let bits = SIMD8<UInt32>(truncatingIfNeeded: halves) &<< 16
            UnsafeMutableRawPointer(to + index).storeBytes(of: unsafeBitCast(bits, to: SIMD8<Float>.self), as: SIMD8<Float>.self)
            index += 8
        }
        return index
    }

    /// The index of the first value that is NaN or beyond ±`limit` (±inf for `limit` =
    /// `.greatestFiniteMagnitude`: the first non-finite value), or nil. One vector pass over
    /// values that are all in range, which is every tensor that converts.
    public static func firstBeyond(_ limit: Float, in values: UnsafeBufferPointer<Float>) -> Int? {
        guard let base = values.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        var inRange = SIMDMask<SIMD8<Int32>>(repeating: true)
        var index = 0
        while index + 8 <= values.count {
            // `<=` is false for NaN as well as for magnitudes beyond the limit.
            inRange = inRange .& (raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self).magnitudes() .<= limit)
            index += 8
        }
        if all(inRange) && values[index...].allSatisfy({ abs($0) <= limit }) { return nil }
        return values.firstIndex { !(abs($0) <= limit) }
    }
}
