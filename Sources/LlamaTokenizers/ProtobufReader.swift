import BinaryIO

/// A bounds-checked protobuf wire-format cursor, after swift-protobuf's `BinaryDecoder`:
/// varints capped at 10 bytes, every length checked against what remains, unknown fields
/// skipped by wire type, errors at byte offsets.
struct ProtobufReader {
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    private var reader: ByteReader

    /// A reader over borrowed bytes: valid only while the lender keeps them alive.
    init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int) {
        reader = ByteReader(bytes, baseOffset: baseOffset)
    }

    var isAtEnd: Bool { reader.isAtEnd }
    var fileOffset: Int { reader.fileOffset }

    mutating func varint(_ what: String) throws -> UInt64 {
        let start = reader.fileOffset
        var value: UInt64 = 0
        for index in 0..<10 {
            let byte = try reader.u8(what)
            value |= UInt64(byte & 0x7F) << (7 * UInt64(index))
            if byte & 0x80 == 0 { return value }
        }
        throw InputError(.overLimit, "\(what): varint longer than 10 bytes", at: .byteOffset(start))
    }

    /// The next field's number and wire type, or nil at the end.
    mutating func nextField() throws -> (number: Int, type: WireType)? {
        guard !reader.isAtEnd else { return nil }
        let start = reader.fileOffset
        let key = try varint("field key")
        guard let type = WireType(rawValue: key & 7), type != .startGroup, type != .endGroup else {
            throw InputError(.unsupported, "unsupported protobuf wire type \(key & 7)", at: .byteOffset(start))
        }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else {
            throw InputError(.outOfRange, "invalid field number \(number)", at: .byteOffset(start))
        }
        return (Int(number), type)
    }

    /// A length-delimited payload and the file offset it starts at.
    mutating func lengthDelimited(_ what: String) throws -> (bytes: UnsafeRawBufferPointer, offset: Int) {
        let start = reader.fileOffset
        let length = try varint("\(what) length")
        guard length <= UInt64(reader.remaining) else {
            throw InputError(.truncated, "\(what) declares \(length) bytes, \(reader.remaining) remain", at: .byteOffset(start))
        }
        let offset = reader.fileOffset
        return (try reader.bytes(Int(length), what), offset)
    }

    mutating func fixed32(_ what: String) throws -> UInt32 { try reader.u32le(what) }

    mutating func skip(_ type: WireType, _ what: String) throws {
        switch type {
        case .varint: _ = try varint(what)
        case .fixed64: try reader.skip(8, what)
        case .fixed32: try reader.skip(4, what)
        case .lengthDelimited: _ = try lengthDelimited(what)
        case .startGroup, .endGroup: throw InputError(.unsupported, "groups are not supported", at: .byteOffset(reader.fileOffset))
        }
    }

    /// Reads a field of the expected wire type or fails naming it.
    mutating func expect(_ type: WireType, got: WireType, _ what: String) throws {
        guard type == got else {
            throw InputError(
                .mismatch, "\(what) has wire type \(got.rawValue), expected \(type.rawValue)", at: .byteOffset(reader.fileOffset))
        }
    }
}
