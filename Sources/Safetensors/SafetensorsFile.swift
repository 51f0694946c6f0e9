import BinaryIO
import TensorCore

/// One `.safetensors` file: the header checked as hostile input, tensor bytes served in place
/// from a mapping (safetensors stores them contiguous, row-major and little-endian).
public final class SafetensorsFile: TensorSource {
    public let path: String
    public let header: SafetensorsHeader
    public let tensorInfos: [TensorInfo]
    private let file: FileReader
    private let mapped: MappedFile
    private let indexByName: [String: Int]

    /// - Throws: `InputError` naming the file and the byte offset or tensor of the first problem.
    public init(path: String) throws {
        self.path = path
        file = try FileReader(path: path)
        let mapped = try file.map()
        self.mapped = mapped
        header = try attributing(to: path) {
            try mapped.withBytes(0..<min(mapped.size, 8 + SafetensorsHeader.maxHeaderBytes)) {
                try SafetensorsHeader(front: $0, fileSize: mapped.size)
            }
        }
        // Offsets within the data section, as the header states them (and as GGUF locations read).
        tensorInfos = header.entries.map {
            TensorInfo(name: $0.name, dtype: $0.dtype, shape: $0.shape, location: "data+\($0.range.lowerBound)")
        }
        indexByName = Dictionary(uniqueKeysWithValues: header.entries.enumerated().map { ($1.name, $0) })
    }

    /// The `__metadata__` value of `key`, if present.
    public func metadata(_ key: String) -> String? {
        header.metadata.first { $0.key == key }?.value
    }

    public func info(named name: String) -> TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    private func fileRange(of name: String) throws -> Range<Int> {
        guard let index = indexByName[name] else { throw InputError(.missing, "no such tensor", at: .tensor(name), file: path) }
        let range = header.entries[index].range
        return header.dataOffset + range.lowerBound..<header.dataOffset + range.upperBound
    }

    /// A one-pass read: the tensor's pages are dropped from this process afterwards (they stay in
    /// the page cache), so streaming a model through `convert` keeps the resident set small.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let range = try fileRange(of: name)
        defer { mapped.release(range) }
        return try mapped.withBytes(range, body)
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        try mapped.withBytes(try fileRange(of: name)) { $0 }
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        let range = try fileRange(of: name)
        return StoredRange(file: file, offset: range.lowerBound, count: range.count)
    }

    /// Drops `name`'s pages from this process after a one-pass read (they stay in the page cache).
    public func releasePages(of name: String) {
        guard let range = try? fileRange(of: name) else { return }
        mapped.release(range)
    }
}
