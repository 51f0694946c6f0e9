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
        case .bf16:
            for index in 0..<destination.count {
                destination[index] = float(bf16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
            }
        case .f16:
            for index in 0..<destination.count {
                destination[index] = float(f16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
            }
        default:
            return false
        }
        return true
    }
}
