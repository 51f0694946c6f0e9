import Testing

@testable import BinaryIO

@Suite struct ByteReaderTests {
    @Test func readsLittleEndianAndBigEndianDoubles() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xFF, 0xFF, 0xFF, 0xFF] + [0x3F, 0xF0, 0, 0, 0, 0, 0, 0]
        try ByteReader.withReader(bytes) { (reader: inout ByteReader) throws in
            #expect(try reader.u16le() == 0x0201)
            #expect(try reader.u16le() == 0x0403)
            #expect(try reader.u32le() == 0x0807_0605)
            #expect(try reader.i32le() == -1)
            #expect(try reader.f64be() == 1.0)
            #expect(reader.isAtEnd)
        }
    }

    @Test(arguments: [0, 1, 3, 7])
    func truncatedReadsThrowWithTheFileOffset(_ available: Int) throws {
        try ByteReader.withReader([UInt8](repeating: 0, count: available), baseOffset: 100) { (reader: inout ByteReader) throws in
            let error = #expect(throws: InputError.self) { _ = try reader.u64le("size field") }
            #expect(error?.kind == .truncated)
            #expect(error?.location == .byteOffset(100))
            #expect(error?.message == "truncated: size field needs 8 bytes, \(available) remain")
        }
    }

    @Test func negativeAndOversizedCountsAreRefused() throws {
        try ByteReader.withReader([1, 2, 3]) { (reader: inout ByteReader) throws in
            #expect(throws: InputError.self) { _ = try reader.bytes(-1) }
            #expect(throws: InputError.self) { _ = try reader.bytes(4) }
            #expect(throws: InputError.self) { try reader.skip(Int.max) }
            #expect(reader.position == 0)
        }
    }

    @Test func readsBorrowTheBytesInPlace() throws {
        let bytes: [UInt8] = [9, 8, 7, 6]
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            _ = try reader.u8()
            let slice = try reader.bytes(2)
            #expect(slice.baseAddress == raw.baseAddress! + 1)
            #expect(Array(slice) == [8, 7])
        }
    }

    @Test func linesAreCapped() throws {
        try ByteReader.withReader(Array("torch\nFloatStorage\n".utf8)) { (reader: inout ByteReader) throws in
            #expect(Array(try reader.line(limit: 10, "module")) == Array("torch".utf8))
            let error = #expect(throws: InputError.self) { _ = try reader.line(limit: 5, "name") }
            #expect(error?.kind == .overLimit)
            #expect(error?.message == "name is longer than 5 bytes")
        }
    }
}

@Suite struct CheckedMathTests {
    @Test(arguments: [(Int.max, 1), (Int.max / 2 + 1, Int.max / 2 + 1)])
    func additionOverflowThrows(_ pair: (Int, Int)) {
        let error = #expect(throws: InputError.self) { _ = try Checked.add(pair.0, pair.1, "offset") }
        #expect(error?.kind == .outOfRange)
    }

    @Test func productOverflowThrowsAndNames() throws {
        let error = #expect(throws: InputError.self) { _ = try Checked.product([1 << 40, 1 << 40], "element count") }
        #expect(error?.kind == .outOfRange)
        #expect(error?.message.hasPrefix("element count overflows") == true)
        #expect(try Checked.product([2, 3, 4], "n") == 24)
        #expect(try Checked.product([], "n") == 1)
    }

    @Test func unsignedValuesBeyondIntAreRefused() throws {
        #expect(throws: InputError.self) { _ = try Checked.int(UInt64.max, "size") }
        #expect(try Checked.int(UInt32.max, "size") == 4_294_967_295)
    }
}
