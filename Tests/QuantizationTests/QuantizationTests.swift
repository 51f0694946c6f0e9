import Foundation
import Testing

@testable import Quantization

/// Bit-exactness against gguf-py's `gguf.quants` on random and adversarial rows
/// (`fixtures/quantization/make_quant_vectors.py`).
@Suite struct QuantizationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/quantization")

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: root.appendingPathComponent(name))) }

    static func floats(_ name: String) throws -> [Float] {
        try bytes(name).withUnsafeBytes { raw in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func quantized(_ format: BlockFormat) throws -> [UInt8] {
        let input = try floats("input.f32")
        var output = [UInt8](repeating: 0xAA, count: try #require(format.byteCount(elements: input.count)))
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBytes { _ = BlockQuantizer.quantize(source, as: format, into: $0) }
        }
        return output
    }

    static func differingBlocks(_ a: [UInt8], _ b: [UInt8], _ format: BlockFormat) -> [Int] {
        let size = format.bytesPerBlock
        return (0..<min(a.count, b.count) / size).filter { a[($0 * size)..<(($0 + 1) * size)] != b[($0 * size)..<(($0 + 1) * size)] }
    }

    /// ggml's own C reference (fixtures/quantization/ggml_ref.c, compiled by the fixture script):
    /// every one of the 397 blocks byte-identical.
    @Test(arguments: [BlockFormat.q8_0, .q4_0])
    func quantizeMatchesGGMLsCReference(_ format: BlockFormat) throws {
        let output = try Self.quantized(format)
        let expected = try Self.bytes("\(format.rawValue).c.bin")
        #expect(output.count == expected.count)
        #expect(Self.differingBlocks(output, expected, format).isEmpty)
    }

    /// gguf-py agrees with ggml everywhere except one known case: a Q4_0 block of negative zeros.
    /// ggml's loop keeps max = +0.0 (strict `<`), so d = +0/−8 = −0.0 → 0x8000; gguf-py takes
    /// the element at argmax (−0.0), so d = +0.0 → 0x0000. LlamaKit follows ggml (block 385).
    @Test(arguments: [BlockFormat.q8_0, .q4_0])
    func quantizeMatchesGGUFPy(_ format: BlockFormat) throws {
        let output = try Self.quantized(format)
        let expected = try Self.bytes("\(format.rawValue).bin")
        #expect(output.count == expected.count)
        #expect(Self.differingBlocks(output, expected, format) == (format == .q4_0 ? [385] : []))
        if format == .q4_0 {
            #expect(Array(output[(385 * 18)..<(385 * 18 + 2)]) == [0x00, 0x80])
            #expect(Array(expected[(385 * 18)..<(385 * 18 + 2)]) == [0x00, 0x00])
        }
    }

    @Test(arguments: [BlockFormat.q8_0, .q4_0])
    func dequantizeMatchesGGUFPy(_ format: BlockFormat) throws {
        let quantized = try Self.bytes("\(format.rawValue).bin")
        let expected = try Self.floats("\(format.rawValue).deq.f32")
        var output = [Float](repeating: .nan, count: expected.count)
        quantized.withUnsafeBytes { source in
            output.withUnsafeMutableBufferPointer { BlockQuantizer.dequantize(source, as: format, into: $0) }
        }
        #expect(output.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    static let conversions: [(name: String, input: String, expected: String)] = [
        ("f16", "input.f32", "f16.bin"), ("bf16", "input.f32", "bf16.bin"),
        ("f16", "nonfinite.f32", "nonfinite-f16.bin"), ("bf16", "nonfinite.f32", "nonfinite-bf16.bin"),
    ]

    @Test(arguments: conversions)
    func floatConversionsMatchGGUFPy(_ row: (name: String, input: String, expected: String)) throws {
        let input = try Self.floats(row.input)
        var output = [UInt8](repeating: 0, count: input.count * 2)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBytes {
                row.name == "f16" ? FloatConversion.toF16(source, into: $0) : FloatConversion.toBF16(source, into: $0)
            }
        }
        #expect(output == (try Self.bytes(row.expected)))
    }

    @Test func policyFactsFromTheReference() {
        // All-zero Q4_0 block: d = -0.0 stored as 0x8000, every nibble 8.
        var block = [UInt8](repeating: 0, count: 18)
        [Float](repeating: 0, count: 32).withUnsafeBufferPointer { source in
            block.withUnsafeMutableBytes { _ = BlockQuantizer.quantize(source, as: .q4_0, into: $0) }
        }
        #expect(block == [0x00, 0x80] + [UInt8](repeating: 0x88, count: 16))
        #expect(FloatConversion.f16Bits(65520) == 0x7C00)  // overflow → inf
        #expect(FloatConversion.bf16Bits(.nan) & 0x7FC0 == 0x7FC0)  // quiet NaN
        #expect(FloatConversion.float(bf16: FloatConversion.bf16Bits(1.5)) == 1.5)
    }

    @Test(arguments: [BlockFormat.q8_0, .q4_0])
    func nonFiniteInputsAreCountedNotCrashed(_ format: BlockFormat) {
        var values = [Float](repeating: 1, count: 64)
        values[3] = .nan
        values[40] = -.infinity
        var output = [UInt8](repeating: 0, count: format.byteCount(elements: 64)!)
        let count = values.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBytes { BlockQuantizer.quantize(source, as: format, into: $0) }
        }
        #expect(count == 2)
    }

    @Test func wholeBlocksOnly() {
        #expect(BlockFormat.q8_0.byteCount(elements: 64) == 68)
        #expect(BlockFormat.q4_0.byteCount(elements: 96) == 54)
        #expect(BlockFormat.q8_0.byteCount(elements: 33) == nil)
    }
}
