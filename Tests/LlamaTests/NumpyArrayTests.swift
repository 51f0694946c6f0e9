import BinaryIO
import Foundation
import TensorCore
import Testing

/// The `.npy` reader: numpy's own files, and corrupt ones refused with a message.
@Suite struct NumpyArrayTests {
    static func npy(_ header: String, major: UInt8 = 1, data: [UInt8]) -> [UInt8] {
        var h = header
        while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        let length = h.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [major, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(h.utf8) + data
    }

    @Test func readsNumpysFiles() throws {
        let root = FixtureConfigTests.root.appendingPathComponent("llama31-tiny/reference")
        let logits = try NumpyArray.load(path: root.appendingPathComponent("logits.npy").path)
        #expect(logits.dtype == .f32 && logits.shape == [300, 768])
        #expect(logits.floats()?.count == 300 * 768)
        let tokens = try NumpyArray.load(path: root.appendingPathComponent("tokens.npy").path)
        #expect(tokens.dtype == .i64 && tokens.shape == [300])
        #expect(tokens.integers()?.first == 512)  // <|begin_of_text|> after 512 ranks
        let scalar = try NumpyArray(parsing: Self.npy("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", data: [7, 0, 0, 0]))
        #expect(scalar.shape == [] && scalar.integers() == [7])
    }

    static let corrupt: [(bytes: [UInt8], message: String, kind: InputError.Kind)] = [
        (Array("PK\u{3}\u{4}not numpy".utf8), "not a .npy file", .malformed),
        (
            npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", major: 9, data: []), ".npy version 9 is not supported",
            .unsupported
        ),
        (
            npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]), "dtype '>f4' is not supported",
            .unsupported
        ),
        (
            npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data: [UInt8](repeating: 0, count: 16)), "Fortran-ordered",
            .unsupported
        ),
        (
            npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: [0, 0, 0, 0]), "needs 12 data bytes, the file holds 4",
            .mismatch
        ),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data: []), "element count", .outOfRange),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data: [0, 0, 0, 0]), "unexpected key 'x'", .mismatch),
        (npy("{'descr': '<f4', 'shape': (1,), }", data: [0, 0, 0, 0]), "header lacks", .missing),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", data: []), "bad dimension", .malformed),
        (npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing", data: [0, 0, 0, 0]), "text after the dict", .malformed),
        ([0x93] + Array("NUMPY".utf8) + [1, 0, 0xFF, 0xFF] + Array("{}".utf8), "header of 65535 bytes does not fit", .truncated),
    ]

    @Test(arguments: corrupt)
    func refusesCorruptFiles(_ row: (bytes: [UInt8], message: String, kind: InputError.Kind)) {
        let error = #expect(throws: InputError.self) { _ = try NumpyArray(parsing: row.bytes) }
        #expect(error?.kind == row.kind, "\(String(describing: error))")
        #expect(error?.description.contains(row.message) == true, "\(String(describing: error))")
    }

    @Test func everyTruncationIsAnError() throws {
        let bytes = Array(try Data(contentsOf: FixtureConfigTests.root.appendingPathComponent("llama3-tiny/reference/tokens.npy")))
        for cut in 0..<bytes.count {
            #expect(throws: InputError.self) { _ = try NumpyArray(parsing: Array(bytes[0..<cut])) }
        }
    }
}
