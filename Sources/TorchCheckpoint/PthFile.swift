import BinaryIO
import TensorCore

/// One PyTorch zip checkpoint (`torch.save` ≥ 1.6), opened without running any pickle code.
///
/// The ten-step reader of `docs/formats.md` §1.1: zip through libzip checked
/// against an independent directory parse, the prefix from the first entry, `byteorder`
/// honoured, `data.pkl` run through `PickleMachine`, every storage matched to its record
/// (size == numel × itemsize) and every view bounds-checked before any byte is touched.
/// Stored records are served in place from a read-only mapping; deflated records, big-endian
/// files and non-contiguous views are assembled into a buffer for the duration of a read.
public final class PthFile: TensorSource {
    /// How stored record bytes are fetched (the benchmark compares the two).
    public enum ReadPath: String, Sendable, CaseIterable {
        /// In place from the mapped file (torch's own mmap path).
        case mapped
        /// Copied through libzip's `zip_fread` into a reused buffer.
        case libzip
    }

    /// Caps on what the file can make us allocate.
    public struct Limits: Sendable {
        public var maxPickleBytes = 16 << 20
        public var maxEntries = 1_000_000
        public init() {}
    }

    public let path: String
    /// The archive's top folder, taken from its first entry (`consolidated` for Meta's files).
    public let prefix: String
    /// `little` or `big`, from the `byteorder` record (absent means little, as torch assumes).
    public let isBigEndian: Bool
    public let recordCount: Int
    public let pickleByteCount: Int
    /// Size of the file in bytes.
    public var fileSize: Int { file.size }
    public var readPath: ReadPath = .mapped

    public private(set) var tensorInfos: [TensorInfo] = []

    private struct Tensor {
        var record: TensorRecord
        var entry: Int
    }

    private let file: FileReader
    /// Mapped on the first tensor read: listing tensors never maps the file.
    private var mappedFile: MappedFile?
    private let archive: ZipArchive
    private let directory: ZipDirectory
    private var tensors: [Tensor] = []
    private var indexByName: [String: Int] = [:]
    private var outputScratch: [UInt8] = []
    private var extentScratch: [UInt8] = []

    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// - Throws: `InputError` naming this file and the byte offset, record or tensor at fault.
    public init(path: String, limits: Limits = Limits()) throws {
        self.path = path
        let file = try FileReader(path: path)
        self.file = file
        let head = try file.bytes(0..<min(file.size, 512))
        guard head.starts(with: [0x50, 0x4B, 0x03, 0x04]) else {
            throw InputError(Self.isLegacy(head) ? .unsupported : .malformed, Self.describeNonZip(head), at: .byteOffset(0), file: path)
        }
        directory = try attributing(to: path) { try ZipDirectory(file: file) }
        guard directory.entries.count <= limits.maxEntries else {
            throw InputError(.overLimit, "\(directory.entries.count) records exceed the cap of \(limits.maxEntries)", file: path)
        }
        archive = try ZipArchive(fileDescriptor: try file.duplicateDescriptor(), path: path)
        try Self.crossCheck(archive.entries, directory.entries, path: path)
        recordCount = archive.entries.count

        let (prefix, entryByName) = try Self.recordsByName(archive.entries, path: path)
        self.prefix = prefix
        if entryByName["constants.pkl"] != nil || entryByName.keys.contains(where: { $0.hasPrefix("code/") }) {
            throw InputError(
                .unsupported,
                "this is a TorchScript archive (torch.jit.save), which is not supported: save the state_dict with torch.save instead",
                file: path)
        }
        guard let pickleEntry = entryByName["data.pkl"] else {
            throw InputError(.missing, "no '\(prefix)/data.pkl' record: not a torch.save checkpoint", file: path)
        }
        isBigEndian = try Self.isBigEndian(archive, entryByName["byteorder"], prefix: prefix, path: path)
        let pickle = try archive.readAll(entry: pickleEntry, limit: limits.maxPickleBytes)
        pickleByteCount = pickle.count
        let (result, named) = try Self.runPickle(pickle, record: archive.entries[pickleEntry].name, path: path)
        let entryForStorage = try Self.storageRecords(result.storages, entryByName, archive: archive, prefix: prefix, path: path)
        for (name, index) in named {
            let record = result.tensors[index]
            let storage = result.storages[record.storage]
            let entry = entryForStorage[record.storage]
            let zipEntry = directory.entries[entry]
            let key = "data/\(storage.key)"
            let location =
                zipEntry.method == 0
                ? "\(key)@\(zipEntry.dataOffset + record.storageOffset * record.dtype.itemSize)"
                : "\(key)+\(record.storageOffset * record.dtype.itemSize) (deflated)"
            indexByName[name] = tensors.count
            tensors.append(Tensor(record: record, entry: entry))
            tensorInfos.append(TensorInfo(name: name, dtype: record.dtype, shape: record.shape, location: location))
        }
    }

    /// The records by their name inside the archive folder (`prefix/`), which every record must
    /// share, each stored or deflated.
    private static func recordsByName(_ entries: [ZipArchive.Entry], path: String) throws -> (String, [String: Int]) {
        guard let first = entries.first, let slash = first.rawName.firstIndex(of: 0x2F), slash > 0 else {
            throw InputError(.missing, "the first record has no 'prefix/' folder, so this is not a torch.save archive", file: path)
        }
        let prefix = String(decoding: first.rawName[..<slash], as: UTF8.self)
        var entryByName: [String: Int] = [:]
        for entry in entries {
            guard entry.rawName.starts(with: first.rawName[...slash]) else {
                throw InputError(.outOfRange, "record '\(entry.name)' is outside the archive folder '\(prefix)/'", file: path)
            }
            guard entry.method == 0 || entry.method == 8 else {
                throw InputError(
                    .unsupported,
                    "record uses compression method \(entry.method); only stored (0) and deflate (8) are supported",
                    at: .record(entry.name), file: path)
            }
            entryByName[String(entry.name.dropFirst(prefix.utf8.count + 1))] = entry.index
        }
        return (prefix, entryByName)
    }

    /// The `byteorder` record's answer; a checkpoint without one is little-endian.
    private static func isBigEndian(_ archive: ZipArchive, _ orderEntry: Int?, prefix: String, path: String) throws -> Bool {
        guard let orderEntry else { return false }
        let order = try archive.readAll(entry: orderEntry, limit: 16)
        switch order {
        case Array("little".utf8): return false
        case Array("big".utf8): return true
        default:
            throw InputError(
                .mismatch,
                "byteorder record holds '\(String(decoding: order, as: UTF8.self))', expected 'little' or 'big'",
                at: .record("\(prefix)/byteorder"), file: path)
        }
    }

    /// Runs the pickle and names its tensors; errors name the pickle record and the byte in it.
    private static func runPickle(_ pickle: [UInt8], record: String, path: String) throws
        -> (PickleMachine.Result, [(name: String, tensor: Int)])
    {
        do {
            let result = try PickleMachine.run(pickle)
            return (result, try result.namedTensors())
        } catch let error as InputError {
            var located = error
            if case .byteOffset(let offset) = error.location {
                located.message = "byte \(offset): \(error.message)"
            }
            located.location = .record(record)
            throw located.inFile(path)
        }
    }

    /// The record of each storage, which must exist and hold exactly numel × itemsize bytes.
    private static func storageRecords(
        _ storages: [StorageRef], _ entryByName: [String: Int], archive: ZipArchive, prefix: String, path: String
    ) throws -> [Int] {
        var entryForStorage: [Int] = []
        for storage in storages {
            guard let entry = entryByName["data/\(storage.key)"] else {
                throw InputError(.missing, "storage '\(storage.key)' has no record '\(prefix)/data/\(storage.key)'", file: path)
            }
            let size = archive.entries[entry].size
            guard size == storage.byteCount else {
                throw InputError(
                    .mismatch,
                    "storage declares \(storage.numel) × \(storage.dtype?.torchName ?? "byte") = \(storage.byteCount) bytes, the record holds \(size)",
                    at: .record(archive.entries[entry].name), file: path)
            }
            entryForStorage.append(entry)
        }
        return entryForStorage
    }

    /// torch < 1.6 wrote a bare pickle stream, starting with its magic number.
    private static func isLegacy(_ head: [UInt8]) -> Bool {
        head.starts(with: legacyMagic) || head.starts(with: [0x80, 0x02, 0x8A, 0x0A])
    }

    private static func describeNonZip(_ head: [UInt8]) -> String {
        if isLegacy(head) {
            return
                "this is a legacy (torch < 1.6) checkpoint, which is not supported: load it with torch and save it again with torch.save (torch ≥ 1.6 writes a zip archive)"
        }
        if head.count >= 262, Array(head[257..<262]) == Array("ustar".utf8) {
            return "this is a tar checkpoint (torch ≤ 0.1), which is not supported"
        }
        if head.starts(with: Array("GGUF".utf8)) {
            return "this is a GGUF file, not a PyTorch checkpoint"
        }
        let shown = head.prefix(8).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(
            separator: " ")
        return "not a PyTorch zip checkpoint: expected the zip signature 50 4b 03 04, found \(shown.isEmpty ? "an empty file" : shown)"
    }

    /// libzip and `ZipDirectory` must see the same archive; any difference is refused.
    private static func crossCheck(_ libzip: [ZipArchive.Entry], _ own: [ZipDirectory.Entry], path: String) throws {
        guard libzip.count == own.count else {
            throw InputError(
                .mismatch, "zip readers disagree: libzip lists \(libzip.count) records, the central directory \(own.count)", file: path)
        }
        for (a, b) in zip(libzip, own) {
            guard a.rawName == b.rawName, a.size == b.size, a.compressedSize == b.compressedSize, a.method == b.method, a.crc == b.crc
            else {
                throw InputError(
                    .mismatch, "zip readers disagree about this record (name, sizes, method or CRC)", at: .record(a.name), file: path)
            }
            guard !a.encrypted else { throw InputError(.unsupported, "record is encrypted", at: .record(a.name), file: path) }
        }
    }

    public func info(named name: String) -> TensorInfo? {
        indexByName[name].map { tensorInfos[$0] }
    }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = indexByName[name] else {
            throw InputError(.missing, "no such tensor", at: .tensor(name), file: path)
        }
        let tensor = tensors[index]
        let record = tensor.record
        let itemSize = record.dtype.itemSize
        let count = tensorInfos[index].elementCount
        let byteCount = count * itemSize
        let entry = directory.entries[tensor.entry]
        let contiguous = record.shape.contains(0) || StridedGather.isContiguous(shape: record.shape, strides: record.strides)
        if count == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }

        let mapped = try mapping()

        // The fast path: bytes served in place from the mapping.
        if readPath == .mapped, entry.method == 0, contiguous, !isBigEndian {
            let start = entry.dataOffset + record.storageOffset * itemSize
            mapped.adviseSequential(start..<start + byteCount)
            defer { mapped.release(start..<start + byteCount) }
            return try mapped.withBytes(start..<start + byteCount, body)
        }

        // Otherwise: the extent the view covers, from the mapping or through libzip.
        var last = record.storageOffset
        for (size, stride) in zip(record.shape, record.strides) { last += (size - 1) * stride }
        let extentStart = record.storageOffset * itemSize
        let extentBytes = (last + 1) * itemSize - extentStart
        // Buffers are reused across calls; taking them out of `self` keeps a nested call safe.
        var output = Self.take(&outputScratch, byteCount)
        var extent = Self.take(&extentScratch, contiguous ? 0 : extentBytes)
        defer {
            outputScratch = output
            extentScratch = extent
        }
        return try output.withUnsafeMutableBytes { whole in
            let destination = UnsafeMutableRawBufferPointer(rebasing: whole[0..<byteCount])
            func gather(_ source: UnsafeRawBufferPointer) {
                StridedGather.gather(
                    from: source, offset: 0, shape: record.shape, strides: record.strides, itemSize: itemSize,
                    into: destination)
            }
            if entry.method == 0 && readPath == .mapped {
                mapped.withBytes(entry.dataOffset + extentStart..<entry.dataOffset + extentStart + extentBytes) { gather($0) }
            } else if contiguous {
                try archive.read(entry: tensor.entry, from: extentStart, into: destination)
            } else {
                try extent.withUnsafeMutableBytes { buffer in
                    let window = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<extentBytes])
                    try archive.read(entry: tensor.entry, from: extentStart, into: window)
                    gather(UnsafeRawBufferPointer(window))
                }
            }
            if isBigEndian { StridedGather.byteSwap(destination, unit: record.dtype.swapUnit) }
            return try body(UnsafeRawBufferPointer(destination))
        }
    }

    public func residentBytes(of name: String) throws -> UnsafeRawBufferPointer? {
        guard let extent = try storedExtent(of: name), readPath == .mapped else { return nil }
        return try mapping().withBytes(extent) { $0 }
    }

    public func storedRange(of name: String) throws -> StoredRange? {
        guard let extent = try storedExtent(of: name) else { return nil }
        return StoredRange(file: file, offset: extent.lowerBound, count: extent.count)
    }

    /// Where a tensor's bytes lie in the file when they can be used as stored: a stored (not
    /// deflated) record, little-endian, contiguous and not empty; nil otherwise.
    private func storedExtent(of name: String) throws -> Range<Int>? {
        guard let index = indexByName[name] else {
            throw InputError(.missing, "no such tensor", at: .tensor(name), file: path)
        }
        let record = tensors[index].record
        let entry = directory.entries[tensors[index].entry]
        let count = tensorInfos[index].elementCount
        guard entry.method == 0, !isBigEndian, count > 0, StridedGather.isContiguous(shape: record.shape, strides: record.strides)
        else { return nil }
        let start = entry.dataOffset + record.storageOffset * record.dtype.itemSize
        return start..<start + count * record.dtype.itemSize
    }

    /// The tensor names a `data.pkl` describes, interpreted by the same allowlist machine as a
    /// whole file (for tools and fuzzing: no zip, no storages checked).
    /// - Throws: `InputError` at the byte offset of the first violation.
    public static func tensorNames(describedBy pickle: [UInt8]) throws -> [String] {
        let result = try PickleMachine.run(pickle)
        return try result.namedTensors().map(\.name)
    }

    /// The whole file mapped, made on first use and kept while `self` lives.
    private func mapping() throws -> MappedFile {
        if let mappedFile { return mappedFile }
        let mapped = try file.map()
        guard mapped.size == file.size else {
            throw InputError(.mismatch, "file changed size while open (\(file.size) → \(mapped.size) bytes)", file: path)
        }
        mappedFile = mapped
        return mapped
    }

    /// Takes `buffer` out of its slot, grown to at least `count` bytes.
    private static func take(_ slot: inout [UInt8], _ count: Int) -> [UInt8] {
        var buffer: [UInt8] = []
        swap(&buffer, &slot)
        if buffer.count < count { buffer = [UInt8](repeating: 0, count: count) }
        return buffer
    }
}
