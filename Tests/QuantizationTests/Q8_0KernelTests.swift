import TensorCore
import TestSupport
import Testing

@testable import Quantization

/// The SIMD Q8_0 kernel against ggml's recipe as written (`BlockQuantizer.quantizeQ8_0`, the
/// scalar oracle that `QuantizationTests` pins to ggml's own C code), block for block, from each
/// source type, on distributions chosen to hit every branch: ties at .5, a huge value beside tiny
/// ones, subnormal scales (1/d overflows), all zeros, ±max float, random bit patterns.
@Suite struct Q8_0KernelTests {
    enum Distribution: String, CaseIterable {
        case uniform, halves, multiplesOfScale, oneHuge, subnormal, tinyNormal, zeros, extremes, randomBits
    }

    static func block(_ kind: Distribution, _ rng: inout XorShift64Star) -> [Float] {
        (0..<32).map { j -> Float in
            switch kind {
            case .uniform: return Float.random(in: -1...1, using: &rng)
            case .halves: return Float(Int.random(in: -254...254, using: &rng)) / 2
            case .multiplesOfScale: return Float(Int.random(in: -127...127, using: &rng)) * 0.37
            case .oneHuge: return j == 5 ? .greatestFiniteMagnitude : Float.random(in: -1e-3...1e-3, using: &rng)
            case .subnormal: return Float(bitPattern: UInt32.random(in: 0...0x007F_FFFF, using: &rng) | (j % 2 == 0 ? 0x8000_0000 : 0))
            case .tinyNormal: return Float.random(in: -1e-36...1e-36, using: &rng)
            case .zeros: return j % 3 == 0 ? -0.0 : 0
            case .extremes: return j % 2 == 0 ? .greatestFiniteMagnitude : -.greatestFiniteMagnitude
            case .randomBits:
                return Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng) | (Bool.random(using: &rng) ? 0x8000_0000 : 0))
            }
        }
    }

    /// The oracle: widen to f32, then ggml's scalar recipe block by block.
    static func oracle(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count / 32 * 34)
        values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBytes { o in
                for block in 0..<values.count / 32 { _ = BlockQuantizer.quantizeQ8_0(x, block * 32, o, block * 34) }
            }
        }
        return out
    }

    /// `values` stored as `dtype` (bf16 by truncation, f16 by rounding) and widened back.
    static func stored(_ values: [Float], as dtype: DType) -> (bytes: [UInt8], widened: [Float]) {
        switch dtype {
        case .bf16:
            let bits = values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            return (bits.flatMap { [UInt8]($0.littleEndianBytes) }, bits.map { FloatConversion.float(bf16: $0) })
        case .f16:
            let bits = values.map { FloatConversion.f16Bits(max(-65504, min(65504, $0))) }
            return (bits.flatMap { [UInt8]($0.littleEndianBytes) }, bits.map { FloatConversion.float(f16: $0) })
        default:
            return (values.flatMap { [UInt8]($0.bitPattern.littleEndianBytes) }, values)
        }
    }

    static let sources: [DType] = [.f32, .f16, .bf16]

    @Test(arguments: Distribution.allCases, sources)
    func simdKernelMatchesGGMLsRecipe(_ kind: Distribution, _ dtype: DType) {
        var rng = XorShift64Star(seed: 0x9E37_79B9_7F4A_7C15 ^ UInt64(kind.rawValue.count))
        let values = (0..<512).flatMap { _ in Self.block(kind, &rng) }
        let (bytes, widened) = Self.stored(values, as: dtype)
        let expected = Self.oracle(widened)
        var output = [UInt8](repeating: 0xAA, count: expected.count)
        let done = bytes.withUnsafeBytes { raw in output.withUnsafeMutableBytes { BlockQuantizer.quantizeQ8_0(raw, dtype: dtype, into: $0) }
        }
        #expect(done)
        let differing = (0..<512).filter { output[($0 * 34)..<($0 * 34 + 34)] != expected[($0 * 34)..<($0 * 34 + 34)] }
        #expect(differing.isEmpty, "blocks \(differing.prefix(5)) of \(kind) from \(dtype)")
        // The f32 entry point, used for every Q8_0 buffer, goes through the same kernel.
        var viaFloats = [UInt8](repeating: 0x55, count: expected.count)
        let nonFinite = widened.withUnsafeBufferPointer { x in
            viaFloats.withUnsafeMutableBytes { BlockQuantizer.quantize(x, as: .q8_0, into: $0) }
        }
        #expect(nonFinite == 0 && viaFloats == expected)
    }

    /// An inf or NaN stops the fused kernel (the caller's widening path names the element); the
    /// f32 entry point quantizes that block as ggml does, counts it and goes on with SIMD.
    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteBlocksLeaveTheFastPath(_ bad: Float) {
        var values = (0..<256).map { Float($0 % 61) - 30 }
        values[100] = bad
        values[101] = bad
        let (bytes, _) = Self.stored(values, as: .f32)
        var output = [UInt8](repeating: 0, count: 8 * 34)
        #expect(!bytes.withUnsafeBytes { raw in output.withUnsafeMutableBytes { BlockQuantizer.quantizeQ8_0(raw, dtype: .f32, into: $0) } })
        let count = values.withUnsafeBufferPointer { x in output.withUnsafeMutableBytes { BlockQuantizer.quantize(x, as: .q8_0, into: $0) }
        }
        #expect(count == 2)
        #expect(output == Self.oracle(values))
    }

    @Test func otherSourceTypesAndPartialBlocksAreDeclined() {
        let bytes = [UInt8](repeating: 0, count: 64 * 4)
        var output = [UInt8](repeating: 0, count: 2 * 34)
        bytes.withUnsafeBytes { raw in
            output.withUnsafeMutableBytes { out in
                #expect(!BlockQuantizer.quantizeQ8_0(raw, dtype: .i32, into: out))
                #expect(!BlockQuantizer.quantizeQ8_0(UnsafeRawBufferPointer(rebasing: raw[0..<100]), dtype: .f32, into: out))
                #expect(BlockQuantizer.quantizeQ8_0(raw, dtype: .f32, into: out))
            }
        }
        #expect(output == [0, 0] + [UInt8](repeating: 0, count: 32) + [0, 0] + [UInt8](repeating: 0, count: 32))
    }
}

extension FixedWidthInteger {
    fileprivate var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian) { Array($0) } }
}
