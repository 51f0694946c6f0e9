import BinaryIO
import TensorCore

/// Reads a GGUF header — version, metadata, tensor infos — from the mapped file in place, as
/// hostile input: every count and length is capped and checked against the bytes that remain,
/// tensor offsets must be sequential and aligned, and the data must fit in the file
/// (`docs/formats.md` §3.1).
struct GGUFHeaderParser {
    struct Header {
        var version: UInt32
        var metadata: [(key: String, value: GGUFValue)]
        var tensors: [GGUFFile.TensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    private var r: ByteReader
    private let limits: GGUFFile.Limits
    private let fileSize: Int

    /// `bytes` is the front of the file (at most `limits.maxMetadataBytes`).
    init(_ bytes: UnsafeRawBufferPointer, fileSize: Int, limits: GGUFFile.Limits) {
        r = ByteReader(bytes)
        self.limits = limits
        self.fileSize = fileSize
    }

    mutating func parse() throws -> Header {
        let version = try versionField()
        let tensorCount = try count("tensor count")
        let kvCount = try count("metadata count")
        let metadata = try metadataEntries(kvCount)
        let alignment = try Self.alignment(in: metadata)
        let tensors = try tensorInfos(tensorCount, alignment: alignment)
        let dataOffset = (r.fileOffset + alignment - 1) / alignment * alignment
        try checkDataFits(tensors, dataOffset: dataOffset)
        return Header(version: version, metadata: metadata, tensors: tensors, alignment: alignment, dataOffset: dataOffset)
    }

    private mutating func versionField() throws -> UInt32 {
        guard Array(try r.bytes(4, "magic")) == Array("GGUF".utf8) else {
            throw InputError(.malformed, "not a GGUF file: bad magic (expected 'GGUF')", at: .byteOffset(0))
        }
        let version = try r.u32le("version")
        guard version == 2 || version == 3 else {
            throw InputError(
                .unsupported,
                "GGUF version \(version) is not supported (expected 3\(version & 0xFFFF == 0 ? "; this looks like a big-endian file" : ""))",
                at: .byteOffset(4))
        }
        return version
    }

    private mutating func count(_ what: String) throws -> Int {
        let at = r.fileOffset
        let value = try r.u64le(what)
        guard value <= UInt64(limits.maxCount) else {
            throw InputError(.overLimit, "\(what) \(value) exceeds the cap of \(limits.maxCount)", at: .byteOffset(at))
        }
        return Int(value)
    }

    private mutating func string(_ what: String) throws -> String {
        let at = r.fileOffset
        let length = try r.u64le("\(what) length")
        guard length <= UInt64(limits.maxStringBytes) else {
            throw InputError(.overLimit, "\(what) of \(length) bytes exceeds the cap", at: .byteOffset(at))
        }
        guard length <= UInt64(r.remaining) else {
            throw InputError(.truncated, "truncated: \(what) declares \(length) bytes, \(r.remaining) remain", at: .byteOffset(at))
        }
        guard let text = String(validating: try r.bytes(Int(length), what), as: UTF8.self) else {
            throw InputError(.malformed, "\(what) is not valid UTF-8", at: .byteOffset(at))
        }
        return text
    }

    private mutating func value(_ type: GGUFValueType, _ what: String, inArray: Bool) throws -> GGUFValue {
        switch type {
        case .u8: return .u8(try r.u8(what))
        case .i8: return .i8(Int8(bitPattern: try r.u8(what)))
        case .u16: return .u16(try r.u16le(what))
        case .i16: return .i16(Int16(bitPattern: try r.u16le(what)))
        case .u32: return .u32(try r.u32le(what))
        case .i32: return .i32(try r.i32le(what))
        case .f32: return .f32(Float(bitPattern: try r.u32le(what)))
        case .bool: return .bool(try bool(what))
        case .string: return .string(try string(what))
        case .u64: return .u64(try r.u64le(what))
        case .i64: return .i64(Int64(bitPattern: try r.u64le(what)))
        case .f64: return .f64(Double(bitPattern: try r.u64le(what)))
        case .array:
            guard !inArray else { throw InputError(.notAllowed, "\(what): nested arrays are not allowed", at: .byteOffset(r.fileOffset)) }
            return try array(what)
        }
    }

    private mutating func bool(_ what: String) throws -> Bool {
        let at = r.fileOffset
        let byte = try r.u8(what)
        guard byte <= 1 else { throw InputError(.outOfRange, "\(what): bool byte is \(byte), expected 0 or 1", at: .byteOffset(at)) }
        return byte == 1
    }

    private mutating func array(_ what: String) throws -> GGUFValue {
        let at = r.fileOffset
        let raw = try r.u32le("\(what) element type")
        guard let elementType = GGUFValueType(rawValue: raw), elementType != .array else {
            throw InputError(.unsupported, "\(what): unknown array element type \(raw)", at: .byteOffset(at))
        }
        let countAt = r.fileOffset
        let n = try r.u64le("\(what) count")
        // Each element takes at least one byte, so the count cannot exceed what remains.
        guard n <= UInt64(limits.maxArrayElements), n <= UInt64(r.remaining) else {
            throw InputError(
                .truncated, "truncated: \(what) declares \(n) elements, \(r.remaining) bytes remain", at: .byteOffset(countAt))
        }
        var items: [GGUFValue] = []
        items.reserveCapacity(Int(n))
        for _ in 0..<Int(n) { items.append(try value(elementType, what, inArray: true)) }
        return .array(elementType, items)
    }

    private mutating func metadataEntries(_ count: Int) throws -> [(key: String, value: GGUFValue)] {
        var metadata: [(key: String, value: GGUFValue)] = []
        var keys: Set<String> = []
        for _ in 0..<count {
            let at = r.fileOffset
            let key = try string("metadata key")
            guard !key.isEmpty else { throw InputError(.malformed, "empty metadata key", at: .byteOffset(at)) }
            guard keys.insert(key).inserted else { throw InputError(.mismatch, "duplicate metadata key '\(key)'", at: .byteOffset(at)) }
            let typeAt = r.fileOffset
            let raw = try r.u32le("value type")
            guard let type = GGUFValueType(rawValue: raw) else {
                throw InputError(.unsupported, "key '\(key)': unknown value type \(raw)", at: .byteOffset(typeAt))
            }
            metadata.append((key, try value(type, "key '\(key)'", inArray: false)))
        }
        return metadata
    }

    /// The data section's alignment `general.alignment` sets (32 without it).
    /// - Throws: `InputError` unless it is a u32 power of two.
    static func alignment(in metadata: [(key: String, value: GGUFValue)]) throws -> Int {
        guard let entry = metadata.first(where: { $0.key == "general.alignment" }) else { return 32 }
        guard case .u32(let value) = entry.value, value > 0, value & (value - 1) == 0 else {
            throw InputError(
                .outOfRange, "general.alignment must be a u32 power of two, found \(entry.value)", at: .key("general.alignment"))
        }
        return Int(value)
    }

    private mutating func tensorInfos(_ count: Int, alignment: Int) throws -> [GGUFFile.TensorInfo] {
        var tensors: [GGUFFile.TensorInfo] = []
        var names: Set<String> = []
        var expectedOffset = 0
        for _ in 0..<count {
            let at = r.fileOffset
            let name = try string("tensor name")
            guard name.utf8.count < 64 else {
                throw InputError(.overLimit, "tensor name '\(name.prefix(80))' is longer than 63 bytes", at: .byteOffset(at))
            }
            guard names.insert(name).inserted else { throw InputError(.mismatch, "duplicate tensor name '\(name)'", at: .byteOffset(at)) }
            let tensor = try tensorInfo(name, at: at, expectedOffset: expectedOffset)
            tensors.append(tensor)
            let padded = try Checked.multiply((tensor.byteCount + alignment - 1) / alignment, alignment, "padded size")
            expectedOffset = try Checked.add(expectedOffset, padded, "data size")
        }
        return tensors
    }

    /// One tensor info after its name: dimensions, type and offset.
    private mutating func tensorInfo(_ name: String, at: Int, expectedOffset: Int) throws -> GGUFFile.TensorInfo {
        let dims = try r.u32le("dimension count")
        guard (1...4).contains(dims) else {
            throw InputError(.outOfRange, "tensor '\(name)' has \(dims) dimensions, expected 1 to 4", at: .byteOffset(at))
        }
        var ne: [Int] = []
        for _ in 0..<dims {
            let value = try r.u64le("dimension")
            guard value <= UInt64(Int64.max) else {
                throw InputError(.overLimit, "tensor '\(name)' dimension \(value) is too large", at: .byteOffset(at))
            }
            ne.append(Int(value))
        }
        let typeAt = r.fileOffset
        let rawType = try r.u32le("ggml type")
        guard let type = GGMLType(rawValue: rawType) else {
            throw InputError(.unsupported, "tensor '\(name)' has unknown ggml type \(rawType)", at: .byteOffset(typeAt))
        }
        let offset = try r.u64le("tensor offset")
        let layout = type.layout
        guard ne[0] % layout.elements == 0 else {
            throw InputError(
                .mismatch,
                "tensor '\(name)': innermost dimension \(ne[0]) is not a multiple of \(type.name)'s block of \(layout.elements)",
                at: .byteOffset(at))
        }
        let elements = try Checked.product(ne, "tensor '\(name)' element count")
        let bytes = try Checked.multiply(elements / layout.elements, layout.bytes, "tensor '\(name)' byte count")
        guard offset == UInt64(expectedOffset) else {
            throw InputError(
                .mismatch, "tensor '\(name)' has offset \(offset), expected \(expectedOffset) (tensors must be sequential and aligned)",
                at: .byteOffset(at))
        }
        return GGUFFile.TensorInfo(name: name, shape: ne.reversed(), type: type, offset: expectedOffset, byteCount: bytes)
    }

    private func checkDataFits(_ tensors: [GGUFFile.TensorInfo], dataOffset: Int) throws {
        guard let last = tensors.last else { return }
        let end = try Checked.add(dataOffset, try Checked.add(last.offset, last.byteCount, "data end"), "data end")
        guard end <= fileSize else {
            throw InputError(
                .outOfRange, "tensor '\(last.name)' ends at byte \(end), past the end of the file (\(fileSize) bytes)",
                at: .byteOffset(fileSize))
        }
    }
}
