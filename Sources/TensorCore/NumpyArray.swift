import BinaryIO

/// A `.npy` file (NumPy format versions 1–3), parsed as hostile input.
///
/// Layout (numpy `lib/format.py`): `\x93NUMPY`, major, minor, header length (u16 for v1, u32
/// for v2/v3), then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape':
/// (T, V), }` padded with spaces and a newline, then the raw C-order data, exactly
/// `product(shape) × itemsize` bytes. Only little-endian f32/f64/f16/i64/i32 and C order are
/// accepted: that is what reference logits and token files are.
public struct NumpyArray: Sendable {
    public let dtype: DType
    public let shape: [Int]
    /// The data bytes, little-endian, C order.
    public let data: [UInt8]

    /// Caps (`SECURITY.md`, "Caps", states them).
    public static let maxFileBytes = 4 << 30
    public static let maxHeaderBytes = 1 << 16

    /// Reads and parses `path`.
    /// - Throws: `InputError` naming the file and byte offset.
    public static func load(path: String) throws -> NumpyArray {
        try attributing(to: path) { try NumpyArray(parsing: try FileSystem.read(path, limit: maxFileBytes)) }
    }

    /// - Throws: `InputError` at the byte offset of the first violation.
    public init(parsing bytes: [UInt8]) throws {
        (dtype, shape, data) = try ByteReader.withReader(bytes) { try Self.parse(&$0) }
    }

    private static func parse(_ r: inout ByteReader) throws -> (DType, [Int], [UInt8]) {
        guard r.bytes.count >= 10, Array(r.bytes[0..<6]) == [0x93] + Array("NUMPY".utf8) else {
            throw InputError(.malformed, "not a .npy file: expected the magic \\x93NUMPY", at: .byteOffset(0))
        }
        try r.skip(6)
        let major = try r.u8("major version")
        _ = try r.u8("minor version")
        let headerLength: Int
        switch major {
        case 1: headerLength = Int(try r.u16le("header length"))
        case 2, 3: headerLength = Int(try r.u32le("header length"))
        default: throw InputError(.unsupported, ".npy version \(major) is not supported (expected 1, 2 or 3)", at: .byteOffset(6))
        }
        let headerStart = r.fileOffset
        guard headerLength <= Self.maxHeaderBytes, headerLength <= r.remaining else {
            throw InputError(
                .truncated, "header of \(headerLength) bytes does not fit (\(r.remaining) bytes remain)", at: .byteOffset(headerStart - 2))
        }
        guard let header = String(validating: try r.bytes(headerLength, "header"), as: UTF8.self) else {
            throw InputError(.malformed, "header is not UTF-8", at: .byteOffset(headerStart))
        }
        let fields = try Self.parseHeader(header, at: headerStart)
        guard let descr = fields.descr, let fortran = fields.fortranOrder, let shape = fields.shape else {
            throw InputError(
                .missing, "header lacks 'descr', 'fortran_order' or 'shape': \(header.prefix(120))", at: .byteOffset(headerStart))
        }
        let types: [String: DType] = ["<f4": .f32, "<f8": .f64, "<f2": .f16, "<i8": .i64, "<i4": .i32]
        guard let dtype = types[descr] else {
            throw InputError(
                .unsupported,
                "dtype '\(descr)' is not supported (expected little-endian float32, float64, float16, int64 or int32)",
                at: .byteOffset(headerStart))
        }
        guard !fortran || shape.count <= 1 else {
            throw InputError(
                .unsupported, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray", at: .byteOffset(headerStart))
        }
        let count = try Checked.product(shape, "element count")
        let byteCount = try Checked.multiply(count, dtype.itemSize, "data size")
        guard byteCount == r.remaining else {
            throw InputError(
                .mismatch,
                "shape \(shape) of \(descr) needs \(byteCount) data bytes, the file holds \(r.remaining)", at: .byteOffset(r.fileOffset))
        }
        return (dtype, shape, Array(try r.bytes(byteCount, "data")))
    }

    /// The values as f32 (f64 rounded, f16 widened), or nil for an integer array.
    public func floats() -> [Float]? {
        let n = data.count / max(dtype.itemSize, 1)
        return data.withUnsafeBytes { raw -> [Float]? in
            switch dtype {
            case .f32:
                return (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .f64:
                return (0..<n).map {
                    Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))))
                }
            case .f16:
                return (0..<n).map {
                    Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))))
                }
            default: return nil
            }
        }
    }

    /// The values as Int, or nil for a float array.
    public func integers() -> [Int]? {
        let n = data.count / max(dtype.itemSize, 1)
        return data.withUnsafeBytes { raw -> [Int]? in
            switch dtype {
            case .i64: return (0..<n).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case .i32: return (0..<n).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            default: return nil
            }
        }
    }

    /// The three keys numpy writes, from the dict literal; anything unexpected is an error.
    private static func parseHeader(_ header: String, at offset: Int) throws -> (descr: String?, fortranOrder: Bool?, shape: [Int]?) {
        var scalars = Array(header.unicodeScalars)[...]
        func fail(_ kind: InputError.Kind, _ what: String) -> InputError {
            InputError(kind, "malformed header: \(what): \(header.prefix(120))", at: .byteOffset(offset))
        }
        func skipSpace() { while let c = scalars.first, c == " " || c == "\n" || c == "\t" { scalars.removeFirst() } }
        func expect(_ c: Unicode.Scalar) throws {
            skipSpace()
            guard scalars.first == c else { throw fail(.malformed, "expected '\(c)'") }
            scalars.removeFirst()
        }
        func quoted() throws -> String {
            skipSpace()
            guard let quote = scalars.first, quote == "'" || quote == "\"" else { throw fail(.mismatch, "expected a string") }
            scalars.removeFirst()
            var text = ""
            while let c = scalars.first, c != quote {
                text.unicodeScalars.append(c)
                scalars.removeFirst()
                guard text.unicodeScalars.count <= 64 else { throw fail(.overLimit, "string too long") }
            }
            try expect(quote)
            return text
        }
        var descr: String?, fortran: Bool?, shape: [Int]?
        try expect("{")
        while true {
            skipSpace()
            if scalars.first == "}" { break }
            let key = try quoted()
            try expect(":")
            skipSpace()
            switch key {
            case "descr": descr = try quoted()
            case "fortran_order":
                if scalars.starts(with: "True".unicodeScalars) {
                    fortran = true
                    scalars.removeFirst(4)
                } else if scalars.starts(with: "False".unicodeScalars) {
                    fortran = false
                    scalars.removeFirst(5)
                } else {
                    throw fail(.malformed, "fortran_order must be True or False")
                }
            case "shape":
                try expect("(")
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if scalars.first == ")" { break }
                    var digits = ""
                    while let c = scalars.first, ("0"..."9").contains(c) {
                        digits.unicodeScalars.append(c)
                        scalars.removeFirst()
                    }
                    guard !digits.isEmpty, digits.count <= 18, let value = Int(digits) else { throw fail(.malformed, "bad dimension") }
                    dims.append(value)
                    guard dims.count <= 8 else { throw fail(.overLimit, "more than 8 dimensions") }
                    skipSpace()
                    if scalars.first == "," {
                        scalars.removeFirst()
                    } else if scalars.first != ")" {
                        throw fail(.malformed, "expected ',' or ')'")
                    }
                }
                try expect(")")
                shape = dims
            default: throw fail(.mismatch, "unexpected key '\(key)'")
            }
            skipSpace()
            if scalars.first == "," { scalars.removeFirst() } else if scalars.first != "}" { throw fail(.malformed, "expected ',' or '}'") }
        }
        try expect("}")
        skipSpace()
        guard scalars.isEmpty else { throw fail(.malformed, "text after the dict") }
        return (descr, fortran, shape)
    }
}
