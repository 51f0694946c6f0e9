import BinaryIO
import TensorCore

/// A GGUF file, parsed as hostile input by `GGUFHeaderParser` straight from the mapping:
/// metadata in file order, tensor infos with validated sequential offsets, tensor bytes served
/// in place.
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
    public convenience init(path: String, limits: Limits = Limits()) throws {
        try self.init(mapped: try MappedFile(path: path), limits: limits)
    }

    /// The file open in `reader`, so that later copies from `reader` read the very file that was
    /// parsed even if its path is replaced meanwhile.
    /// - Throws: `InputError` at the byte offset of the first violation.
    public convenience init(reading reader: FileReader, limits: Limits = Limits()) throws {
        try self.init(mapped: try reader.map(), limits: limits)
    }

    private init(mapped: MappedFile, limits: Limits) throws {
        let path = mapped.path
        self.path = path
        self.mapped = mapped
        let header = try attributing(to: path) {
            try mapped.withBytes(0..<min(mapped.size, limits.maxMetadataBytes)) { front in
                var parser = GGUFHeaderParser(front, fileSize: mapped.size, limits: limits)
                return try parser.parse()
            }
        }
        (version, metadata, tensors, alignment, dataOffset) =
            (header.version, header.metadata, header.tensors, header.alignment, header.dataOffset)
        tensorInfos = tensors.map {
            TensorCore.TensorInfo(name: $0.name, dtype: $0.type.dtype, shape: $0.shape, location: "data+\($0.offset)")
        }
        indexByName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// The value of `key`, if present.
    public func value(_ key: String) -> GGUFValue? {
        metadata.first { $0.key == key }?.value
    }

    /// Calls `body` with tensor `name`'s bytes, in place.
    /// - Throws: `InputError` if there is no such tensor.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = indexByName[name] else {
            throw InputError(.missing, "no such tensor", at: .tensor(name), file: path)
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
