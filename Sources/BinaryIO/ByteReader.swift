/// A cursor over bytes that cannot run past the end.
///
/// Modelled on swift-protobuf's `BinaryDecoder` and swift-nio's `ByteBuffer`: explicit
/// endianness, every read checks what remains first and throws an `InputError` carrying the
/// absolute byte offset (`baseOffset + position`) of the read that failed.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int
    /// Offset of `bytes[0]` in the file, so errors report file offsets.
    public let baseOffset: Int

    public init(_ bytes: [UInt8], baseOffset: Int = 0) {
        self.bytes = bytes
        self.position = 0
        self.baseOffset = baseOffset
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position >= bytes.count }
    /// The file offset of the next byte to be read.
    public var fileOffset: Int { baseOffset + position }

    public func error(_ message: String, at offset: Int? = nil) -> InputError {
        InputError(message, at: .byteOffset(offset ?? fileOffset))
    }

    private func need(_ count: Int, _ what: String) throws {
        guard count >= 0, count <= remaining else {
            throw error("truncated: \(what) needs \(count) bytes, \(remaining) remain")
        }
    }

    public mutating func seek(to position: Int) throws {
        guard position >= 0, position <= bytes.count else {
            throw error("offset \(position + baseOffset) is outside the data (size \(bytes.count))")
        }
        self.position = position
    }

    public mutating func skip(_ count: Int, _ what: String = "field") throws {
        try need(count, what)
        position += count
    }

    public mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func littleEndian<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        try need(size, what)
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[position + index]) << (8 * index) }
        position += size
        return value
    }

    public mutating func u16le(_ what: String = "u16") throws -> UInt16 { try littleEndian(UInt16.self, what) }
    public mutating func u32le(_ what: String = "u32") throws -> UInt32 { try littleEndian(UInt32.self, what) }
    public mutating func u64le(_ what: String = "u64") throws -> UInt64 { try littleEndian(UInt64.self, what) }
    public mutating func i32le(_ what: String = "i32") throws -> Int32 { try littleEndian(Int32.self, what) }

    /// A big-endian IEEE double (pickle's BINFLOAT).
    public mutating func f64be(_ what: String = "f64") throws -> Double {
        try need(8, what)
        var raw: UInt64 = 0
        for index in 0..<8 { raw = raw << 8 | UInt64(bytes[position + index]) }
        position += 8
        return Double(bitPattern: raw)
    }

    public mutating func bytes(_ count: Int, _ what: String = "bytes") throws -> ArraySlice<UInt8> {
        try need(count, what)
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// Reads up to and excluding `terminator`, consuming it; at most `limit` bytes.
    public mutating func line(terminator: UInt8 = 0x0A, limit: Int, _ what: String) throws -> ArraySlice<UInt8> {
        let start = position
        let end = min(bytes.count, start + limit + 1)
        guard let stop = bytes[start..<end].firstIndex(of: terminator) else {
            if end == bytes.count {
                throw error("truncated: \(what) has no terminating newline")
            }
            throw error("\(what) is longer than \(limit) bytes")
        }
        position = stop + 1
        return bytes[start..<stop]
    }
}
