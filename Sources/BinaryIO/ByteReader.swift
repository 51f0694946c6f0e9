/// A cursor over borrowed bytes that cannot run past the end.
///
/// Modelled on swift-protobuf's `BinaryDecoder` and swift-nio's `ByteBuffer`: explicit
/// endianness, every read checks what remains first and throws an `InputError` carrying the
/// absolute byte offset (`baseOffset + position`) of the read that failed.
///
/// The bytes are borrowed (a mapped file, or an array inside `withReader`), never copied: a
/// reader and every buffer it returns are valid only inside the closure that lent the bytes.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int
    /// Offset of `bytes[0]` in the file, so errors report file offsets.
    public let baseOffset: Int

    public init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) {
        self.bytes = bytes
        self.position = 0
        self.baseOffset = baseOffset
    }

    /// Runs `body` with a reader over `bytes`.
    public static func withReader<R>(
        _ bytes: [UInt8], baseOffset: Int = 0, _ body: (inout ByteReader) throws -> R
    ) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw, baseOffset: baseOffset)
            return try body(&reader)
        }
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position >= bytes.count }
    /// The file offset of the next byte to be read.
    public var fileOffset: Int { baseOffset + position }

    public func error(_ kind: InputError.Kind, _ message: String, at offset: Int? = nil) -> InputError {
        InputError(kind, message, at: .byteOffset(offset ?? fileOffset))
    }

    private func need(_ count: Int, _ what: String) throws {
        guard count >= 0, count <= remaining else {
            throw error(.truncated, "truncated: \(what) needs \(count) bytes, \(remaining) remain")
        }
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
        try need(MemoryLayout<T>.size, what)
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    public mutating func u16le(_ what: String = "u16") throws -> UInt16 { try littleEndian(UInt16.self, what) }
    public mutating func u32le(_ what: String = "u32") throws -> UInt32 { try littleEndian(UInt32.self, what) }
    public mutating func u64le(_ what: String = "u64") throws -> UInt64 { try littleEndian(UInt64.self, what) }
    public mutating func i32le(_ what: String = "i32") throws -> Int32 { try littleEndian(Int32.self, what) }

    /// A big-endian IEEE double (pickle's BINFLOAT).
    public mutating func f64be(_ what: String = "f64") throws -> Double {
        try need(8, what)
        defer { position += 8 }
        return Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)))
    }

    /// The next `count` bytes, borrowed.
    public mutating func bytes(_ count: Int, _ what: String = "bytes") throws -> UnsafeRawBufferPointer {
        try need(count, what)
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    /// Reads up to and excluding `terminator`, consuming it; at most `limit` bytes.
    public mutating func line(terminator: UInt8 = 0x0A, limit: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        let start = position
        let end = min(bytes.count, start + limit + 1)
        guard let stop = bytes[start..<end].firstIndex(of: terminator) else {
            if end == bytes.count {
                throw error(.truncated, "truncated: \(what) has no terminating newline")
            }
            throw error(.overLimit, "\(what) is longer than \(limit) bytes")
        }
        position = stop + 1
        return UnsafeRawBufferPointer(rebasing: bytes[start..<stop])
    }
}
