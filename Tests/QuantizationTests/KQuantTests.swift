import Foundation
import Testing

@testable import Quantization

/// Every format against ggml's own `ggml-quants.c` compiled with `-ffp-contract=off`
/// (`fixtures/kquants/make_kquant_vectors.py`): rows of 512 values of many kinds (`rows.json`),
/// quantized with and without importance weights, and dequantized.
@Suite struct KQuantTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/kquants")

    struct Fixture {
        var columns: Int
        var rows: [Float]
        var importance: [Float]
        var kinds: [String]
    }

    static let fixture: Fixture = {
        let meta = try! JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("rows.json"))) as! [String: Any]
        let kinds = (meta["kinds"] as! [[String: Any]]).map { "\($0["kind"]!) / importance \($0["importance"]!)" }
        return Fixture(
            columns: meta["columns"] as! Int, rows: try! floats("rows.f32"), importance: try! floats("importance.f32"), kinds: kinds)
    }()

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: root.appendingPathComponent(name))) }

    static func floats(_ name: String) throws -> [Float] {
        try bytes(name).withUnsafeBytes { raw in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// The rows whose bytes differ from `expected`, named by their kind.
    static func differingRows(_ output: [UInt8], _ expected: [UInt8], _ format: BlockFormat) -> [String] {
        let rowBytes = fixture.columns / format.elementsPerBlock * format.bytesPerBlock
        return (0..<expected.count / rowBytes).filter { row in
            output[(row * rowBytes)..<((row + 1) * rowBytes)] != expected[(row * rowBytes)..<((row + 1) * rowBytes)]
        }.map { "row \($0): \(fixture.kinds[$0])" }
    }

    static let weightFormats: [BlockFormat] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// The path llama-quantize takes without an imatrix (`quantize_row_*_ref`), plus the
    /// activation formats Q8_1 and Q8_K.
    @Test(arguments: weightFormats + [.q8_1, .q8_K])
    func quantizeMatchesGGML(_ format: BlockFormat) throws {
        let rows = Self.fixture.rows
        var output = [UInt8](repeating: 0xAA, count: try #require(format.byteCount(elements: rows.count)))
        let nonFinite = rows.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBytes { BlockQuantizer.quantize(source, as: format, into: $0) }
        }
        #expect(nonFinite == 0)
        let expected = try Self.bytes("\(format.rawValue).bin")
        #expect(output.count == expected.count)
        #expect(Self.differingRows(output, expected, format) == [])
    }

    /// The importance-weighted path (`quantize_row_*_impl`), one weight vector per row.
    @Test(arguments: weightFormats)
    func importanceQuantizeMatchesGGML(_ format: BlockFormat) throws {
        let fixture = Self.fixture
        let columns = fixture.columns
        let rowBytes = try #require(format.byteCount(elements: columns))
        var output = [UInt8](repeating: 0xAA, count: rowBytes * fixture.rows.count / columns)
        for row in 0..<(fixture.rows.count / columns) {
            fixture.rows[(row * columns)..<((row + 1) * columns)].withUnsafeBufferPointer { source in
                fixture.importance[(row * columns)..<((row + 1) * columns)].withUnsafeBufferPointer { weights in
                    output[(row * rowBytes)..<((row + 1) * rowBytes)].withUnsafeMutableBytes {
                        _ = BlockQuantizer.quantize(rows: source, rowLength: columns, as: format, importance: weights, into: $0)
                    }
                }
            }
        }
        let expected = try Self.bytes("\(format.rawValue).imatrix.bin")
        #expect(output.count == expected.count)
        #expect(Self.differingRows(output, expected, format) == [])
    }

    @Test(arguments: weightFormats + [.q8_K])
    func dequantizeMatchesGGML(_ format: BlockFormat) throws {
        let quantized = try Self.bytes("\(format.rawValue).bin")
        let expected = try Self.floats("\(format.rawValue).deq.f32")
        var output = [Float](repeating: .nan, count: expected.count)
        quantized.withUnsafeBytes { source in
            output.withUnsafeMutableBufferPointer { BlockQuantizer.dequantize(source, as: format, into: $0) }
        }
        let columns = Self.fixture.columns
        let differing = (0..<expected.count / columns).filter { row in
            output[(row * columns)..<((row + 1) * columns)].map(\.bitPattern)
                != expected[(row * columns)..<((row + 1) * columns)].map(\.bitPattern)
        }
        #expect(differing == [])
    }
}
