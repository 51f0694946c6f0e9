import BinaryIO
import TensorCore

/// A safetensors header checked as hostile input (`docs/safetensors.md` §2): 8-byte
/// little-endian length, then that many bytes of JSON naming each tensor's dtype, shape and
/// byte range in the data section that follows.
public struct SafetensorsHeader: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    /// Largest header accepted; the reference library refuses more than 100 MB too.
    public static let maxHeaderBytes = 100_000_000

    /// Tensors in the order the header lists them.
    public var entries: [Entry]
    /// `__metadata__`: string keys to string values.
    public var metadata: [(key: String, value: String)]
    /// File offset of the data section (8 + header length).
    public var dataOffset: Int

    public static func == (lhs: SafetensorsHeader, rhs: SafetensorsHeader) -> Bool {
        lhs.entries == rhs.entries && lhs.dataOffset == rhs.dataOffset
            && lhs.metadata.map(\.key) == rhs.metadata.map(\.key) && lhs.metadata.map(\.value) == rhs.metadata.map(\.value)
    }

    /// Parses and checks the header of a file of `fileSize` bytes whose first bytes are `front`.
    /// - Throws: `InputError` at the byte offset or tensor of the first violation: a length past
    ///   the file or the cap, bad JSON or UTF-8, an unknown dtype, a shape or range that disagrees
    ///   with the dtype, ranges that overlap, leave holes or run past the file, a repeated name.
    public init(front: UnsafeRawBufferPointer, fileSize: Int) throws {
        guard front.count >= 8 else {
            throw InputError(.truncated, "a safetensors file starts with an 8-byte header length", at: .byteOffset(0))
        }
        let declared = front.loadUnaligned(as: UInt64.self).littleEndian
        guard declared <= UInt64(Self.maxHeaderBytes) else {
            throw InputError(.overLimit, "header length \(declared) exceeds the cap of \(Self.maxHeaderBytes) bytes", at: .byteOffset(0))
        }
        let length = Int(declared)
        guard length <= fileSize - 8, length <= front.count - 8 else {
            throw InputError(.truncated, "header length \(length) runs past the end of the file (\(fileSize) bytes)", at: .byteOffset(0))
        }
        guard length >= 2, front[8] == UInt8(ascii: "{") else {
            throw InputError(.malformed, "the header must be a JSON object starting with '{'", at: .byteOffset(8))
        }
        let json = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: front[8..<8 + length]), baseOffset: 8)
        dataOffset = 8 + length
        (entries, metadata) = try Self.entries(of: json, dataSize: fileSize - dataOffset)
    }

    private static func entries(of json: JSONValue, dataSize: Int) throws -> ([Entry], [(key: String, value: String)]) {
        guard let object = json.object else { throw InputError(.malformed, "the header is not a JSON object", at: .byteOffset(8)) }
        var entries: [Entry] = []
        var metadata: [(key: String, value: String)] = []
        for (name, value) in object.members {
            if name == "__metadata__" {
                metadata = try strings(of: value)
            } else {
                entries.append(try entry(name: name, value, dataSize: dataSize))
            }
        }
        try checkTiling(entries, dataSize: dataSize)
        return (entries, metadata)
    }

    private static func strings(of value: JSONValue) throws -> [(key: String, value: String)] {
        guard let object = value.object else { throw InputError(.malformed, "must be an object of strings", at: .key("__metadata__")) }
        return try object.members.map { member in
            guard let text = member.value.string else {
                throw InputError(
                    .malformed, "value must be a string, found \(member.value.kindName)", at: .key("__metadata__.\(member.key)"))
            }
            return (member.key, text)
        }
    }

    private static func entry(name: String, _ value: JSONValue, dataSize: Int) throws -> Entry {
        func fail(_ kind: InputError.Kind, _ message: String) -> InputError { InputError(kind, message, at: .tensor(name)) }
        guard let fields = value.object else { throw fail(.malformed, "expected an object with dtype, shape and data_offsets") }
        guard let dtypeName = fields["dtype"]?.string else { throw fail(.malformed, "dtype must be a string") }
        guard let dtype = SafetensorsDType.dtype(named: dtypeName) else {
            throw fail(.unsupported, "dtype '\(dtypeName)' is not supported")
        }
        guard let dims = fields["shape"]?.array else { throw fail(.malformed, "shape must be an array of integers") }
        let shape = try dims.map { dim -> Int in
            guard let size = dim.integer, size >= 0 else { throw fail(.malformed, "shape must hold non-negative integers, found \(dim)") }
            return size
        }
        guard let offsets = fields["data_offsets"]?.array, offsets.count == 2, let begin = offsets[0].integer, let end = offsets[1].integer
        else { throw fail(.malformed, "data_offsets must be two integers [begin, end]") }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw fail(.outOfRange, "data_offsets [\(begin), \(end)] lie outside the data section of \(dataSize) bytes")
        }
        let elements = try attributingTensor(name) { try Checked.product(shape, "element count") }
        let bytes = try attributingTensor(name) { try Checked.multiply(elements, dtype.itemSize, "byte count") }
        guard end - begin == bytes else {
            throw fail(.mismatch, "data_offsets hold \(end - begin) bytes but \(dtypeName) \(shape) needs \(bytes)")
        }
        if let extra = fields.keys.first(where: { !["dtype", "shape", "data_offsets"].contains($0) }) {
            throw fail(.malformed, "unknown field '\(extra)'")
        }
        return Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
    }

    /// The reference library's rule: sorted by offset, the ranges cover the data section exactly,
    /// with no overlap and no hole.
    private static func checkTiling(_ entries: [Entry], dataSize: Int) throws {
        var next = 0
        for entry in entries.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            guard entry.range.lowerBound == next else {
                let what =
                    entry.range.lowerBound < next
                    ? "overlaps the tensor before it" : "leaves a hole of \(entry.range.lowerBound - next) bytes before it"
                throw InputError(
                    .outOfRange, "data_offsets start at \(entry.range.lowerBound), expected \(next): the range \(what)",
                    at: .tensor(entry.name))
            }
            next = entry.range.upperBound
        }
        guard next == dataSize else {
            throw InputError(.outOfRange, "the tensors end at data byte \(next) but the data section holds \(dataSize) bytes")
        }
    }

    private static func attributingTensor<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch var error as InputError {
            error.location = .tensor(name)
            throw error
        }
    }
}
