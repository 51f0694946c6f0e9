import BinaryIO
import TensorCore

/// A GGUF file, parsed as hostile input (`docs/formats.md` §3.1 reader rules, plus
/// every length checked against the bytes that remain): metadata in file order, tensor infos
/// with validated sequential offsets, tensor bytes served in place from a mapping.
public final class GGUFFile: TensorSource {
    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        /// Row-major shape (GGUF's `ne` reversed).
        public var shape: [Int]
        public var type: GGMLType
        /// Offset within the data section.
        public var offset: Int
        public var byteCount: Int
    }

    /// Caps (`SECURITY.md`, "Caps", states them).
    public struct Limits: Sendable {
        public var maxMetadataBytes = 512 << 20
        public var maxStringBytes = 1 << 30
        public var maxArrayElements = 1 << 30
        public var maxCount = 1 << 24
        public init() {}
    }

    public let path: String
    public let version: UInt32
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [TensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    private let mapped: MappedFile
    /// The tensors as every `TensorSource` describes them (ggml types as `DType`s).
    public let tensorInfos: [TensorCore.TensorInfo]
    private let indexByName: [String: Int]

    /// - Throws: `InputError` at the byte offset of the first violation.
    public init(path: String, limits: Limits = Limits()) throws {
        self.path = path
        let mapped = try MappedFile(path: path)
        self.mapped = mapped
        // The metadata lives at the front: parse from a prefix, grown until it suffices.
        var prefix = min(mapped.size, 1 << 20)
        while true {
            do {
                let parsed = try Self.parse(mapped.copyBytes(0..<prefix), fileSize: mapped.size, limits: limits)
                (version, metadata, tensors, alignment, dataOffset) = parsed
                tensorInfos = tensors.map {
                    TensorCore.TensorInfo(name: $0.name, dtype: $0.type.dtype, shape: $0.shape, location: "data+\($0.offset)")
                }
                indexByName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
                return
            } catch let error as InputError where error.message.hasPrefix("truncated") && prefix < min(mapped.size, limits.maxMetadataBytes)
            {
                prefix = min(mapped.size, limits.maxMetadataBytes, prefix * 4)
            } catch let error as InputError {
                throw error.inFile(path)
            }
        }
    }

    private static func parse(_ bytes: [UInt8], fileSize: Int, limits: Limits) throws
        -> (UInt32, [(key: String, value: GGUFValue)], [TensorInfo], Int, Int)
    {
        var r = ByteReader(bytes)
        guard Array(try r.bytes(4, "magic")) == Array("GGUF".utf8) else {
            throw InputError("not a GGUF file: bad magic (expected 'GGUF')", at: .byteOffset(0))
        }
        let version = try r.u32le("version")
        guard version == 2 || version == 3 else {
            throw InputError(
                "GGUF version \(version) is not supported (expected 3\(version & 0xFFFF == 0 ? "; this looks like a big-endian file" : ""))",
                at: .byteOffset(4))
        }
        func count(_ what: String) throws -> Int {
            let at = r.fileOffset
            let value = try r.u64le(what)
            guard value <= UInt64(limits.maxCount) else {
                throw InputError("\(what) \(value) exceeds the cap of \(limits.maxCount)", at: .byteOffset(at))
            }
            return Int(value)
        }
        let tensorCount = try count("tensor count")
        let kvCount = try count("metadata count")
        func string(_ what: String) throws -> String {
            let at = r.fileOffset
            let length = try r.u64le("\(what) length")
            guard length <= UInt64(limits.maxStringBytes) else {
                throw InputError("\(what) of \(length) bytes exceeds the cap", at: .byteOffset(at))
            }
            guard length <= UInt64(r.remaining) else {
                throw InputError("truncated: \(what) declares \(length) bytes, \(r.remaining) remain", at: .byteOffset(at))
            }
            guard let text = String(validating: try r.bytes(Int(length), what), as: UTF8.self) else {
                throw InputError("\(what) is not valid UTF-8", at: .byteOffset(at))
            }
            return text
        }
        func value(_ type: GGUFValueType, _ what: String, inArray: Bool) throws -> GGUFValue {
            switch type {
            case .u8: return .u8(try r.u8(what))
            case .i8: return .i8(Int8(bitPattern: try r.u8(what)))
            case .u16: return .u16(try r.u16le(what))
            case .i16: return .i16(Int16(bitPattern: try r.u16le(what)))
            case .u32: return .u32(try r.u32le(what))
            case .i32: return .i32(try r.i32le(what))
            case .f32: return .f32(Float(bitPattern: try r.u32le(what)))
            case .bool:
                let at = r.fileOffset
                let byte = try r.u8(what)
                guard byte <= 1 else { throw InputError("\(what): bool byte is \(byte), expected 0 or 1", at: .byteOffset(at)) }
                return .bool(byte == 1)
            case .string: return .string(try string(what))
            case .u64: return .u64(try r.u64le(what))
            case .i64: return .i64(Int64(bitPattern: try r.u64le(what)))
            case .f64: return .f64(Double(bitPattern: try r.u64le(what)))
            case .array:
                let at = r.fileOffset
                guard !inArray else { throw InputError("\(what): nested arrays are not allowed", at: .byteOffset(at)) }
                let raw = try r.u32le("\(what) element type")
                guard let elementType = GGUFValueType(rawValue: raw), elementType != .array else {
                    throw InputError("\(what): unknown array element type \(raw)", at: .byteOffset(at))
                }
                let countAt = r.fileOffset
                let n = try r.u64le("\(what) count")
                // Each element takes at least one byte, so the count cannot exceed what remains.
                guard n <= UInt64(limits.maxArrayElements), n <= UInt64(r.remaining) else {
                    throw InputError("truncated: \(what) declares \(n) elements, \(r.remaining) bytes remain", at: .byteOffset(countAt))
                }
                var items: [GGUFValue] = []
                items.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { items.append(try value(elementType, what, inArray: true)) }
                return .array(elementType, items)
            }
        }
        var metadata: [(key: String, value: GGUFValue)] = []
        var keys: Set<String> = []
        for _ in 0..<kvCount {
            let at = r.fileOffset
            let key = try string("metadata key")
            guard !key.isEmpty else { throw InputError("empty metadata key", at: .byteOffset(at)) }
            guard keys.insert(key).inserted else { throw InputError("duplicate metadata key '\(key)'", at: .byteOffset(at)) }
            let typeAt = r.fileOffset
            let raw = try r.u32le("value type")
            guard let type = GGUFValueType(rawValue: raw) else {
                throw InputError("key '\(key)': unknown value type \(raw)", at: .byteOffset(typeAt))
            }
            metadata.append((key, try value(type, "key '\(key)'", inArray: false)))
        }
        var alignment = 32
        if let entry = metadata.first(where: { $0.key == "general.alignment" }) {
            guard case .u32(let value) = entry.value, value > 0, value & (value - 1) == 0 else {
                throw InputError("general.alignment must be a u32 power of two, found \(entry.value)", at: .key("general.alignment"))
            }
            alignment = Int(value)
        }
        var tensors: [TensorInfo] = []
        var names: Set<String> = []
        var expectedOffset = 0
        for _ in 0..<tensorCount {
            let at = r.fileOffset
            let name = try string("tensor name")
            guard name.utf8.count < 64 else {
                throw InputError("tensor name '\(name.prefix(80))' is longer than 63 bytes", at: .byteOffset(at))
            }
            guard names.insert(name).inserted else { throw InputError("duplicate tensor name '\(name)'", at: .byteOffset(at)) }
            let dims = try r.u32le("dimension count")
            guard (1...4).contains(dims) else {
                throw InputError("tensor '\(name)' has \(dims) dimensions, expected 1 to 4", at: .byteOffset(at))
            }
            var ne: [Int] = []
            for _ in 0..<dims {
                let value = try r.u64le("dimension")
                guard value <= UInt64(Int64.max) else {
                    throw InputError("tensor '\(name)' dimension \(value) is too large", at: .byteOffset(at))
                }
                ne.append(Int(value))
            }
            let typeAt = r.fileOffset
            let rawType = try r.u32le("ggml type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw InputError("tensor '\(name)' has unknown ggml type \(rawType)", at: .byteOffset(typeAt))
            }
            let offset = try r.u64le("tensor offset")
            guard ne[0] % type.blockSize == 0 else {
                throw InputError(
                    "tensor '\(name)': innermost dimension \(ne[0]) is not a multiple of \(type.name)'s block of \(type.blockSize)",
                    at: .byteOffset(at))
            }
            let elements = try Checked.product(ne, "tensor '\(name)' element count")
            let bytes = try Checked.multiply(elements / type.blockSize, type.bytesPerBlock, "tensor '\(name)' byte count")
            guard offset == UInt64(expectedOffset) else {
                throw InputError(
                    "tensor '\(name)' has offset \(offset), expected \(expectedOffset) (tensors must be sequential and aligned)",
                    at: .byteOffset(at))
            }
            tensors.append(TensorInfo(name: name, shape: ne.reversed(), type: type, offset: expectedOffset, byteCount: bytes))
            expectedOffset = try Checked.add(
                expectedOffset, try Checked.multiply((bytes + alignment - 1) / alignment, alignment, "padded size"), "data size")
        }
        let dataOffset = (r.fileOffset + alignment - 1) / alignment * alignment
        if let last = tensors.last {
            let end = try Checked.add(dataOffset, try Checked.add(last.offset, last.byteCount, "data end"), "data end")
            guard end <= fileSize else {
                throw InputError(
                    "tensor '\(last.name)' ends at byte \(end), past the end of the file (\(fileSize) bytes)", at: .byteOffset(fileSize))
            }
        }
        return (version, metadata, tensors, alignment, dataOffset)
    }

    /// The value of `key`, if present.
    public func value(_ key: String) -> GGUFValue? {
        metadata.first { $0.key == key }?.value
    }

    /// Calls `body` with tensor `name`'s bytes, in place.
    /// - Throws: `InputError` if there is no such tensor.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = indexByName[name] else {
            throw InputError("no such tensor", at: .tensor(name), file: path)
        }
        let start = dataOffset + tensors[index].offset
        return try mapped.withBytes(start..<start + tensors[index].byteCount, body)
    }

    /// Drops tensor `name`'s pages from this process after a one-pass read (they stay in the page
    /// cache), so streaming a multi-gigabyte file does not grow the resident set by its size.
    public func releasePages(of name: String) {
        guard let index = indexByName[name] else { return }
        let start = dataOffset + tensors[index].offset
        mapped.release(start..<start + tensors[index].byteCount)
    }

    public func info(named name: String) -> TensorCore.TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    /// GGUF tensors always live contiguous and little-endian in the mapping.
    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try withBytes(of: name) { $0 }
    }
}
