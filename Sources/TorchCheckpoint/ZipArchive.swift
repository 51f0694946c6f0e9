import BinaryIO
import CLibzip

#if canImport(Glibc)
    import Glibc
#endif

/// The archive as libzip sees it. The only file in LlamaKit that calls libzip.
///
/// libzip lists the entries (names, sizes, method, CRC, encryption) and reads record bytes
/// through `zip_fread`; it decompresses deflated records (an archive a user re-zipped). Stored
/// records are opened raw (`ZIP_FL_COMPRESSED`) so that torch files written with CRC-32 turned
/// off (`torch.serialization.set_crc32_options(False)`) still read, as they do in torch.
/// Not thread-safe: one `ZipArchive` is used from one thread at a time.
final class ZipArchive {
    struct Entry: Equatable {
        var index: Int
        /// The name exactly as stored (torch writes UTF-8 and sets the flag).
        var rawName: [UInt8]
        var size: Int
        var compressedSize: Int
        /// 0 stored, 8 deflate, …
        var method: UInt16
        var crc: UInt32
        var encrypted: Bool

        var name: String { String(decoding: rawName, as: UTF8.self) }
    }

    let path: String
    private let handle: OpaquePointer
    private(set) var entries: [Entry] = []

    /// Opens the archive on `fileDescriptor`, which libzip takes over (and closes), so that it
    /// reads the very file the caller validated, not whatever `path` names by now.
    /// - Throws: `InputError` with libzip's own text when the archive cannot be opened.
    init(fileDescriptor: Int32, path: String) throws {
        self.path = path
        var code: Int32 = 0
        guard let handle = zip_fdopen(fileDescriptor, 0, &code) else {
            close(fileDescriptor)
            throw InputError(.malformed, "not a readable zip archive: \(Self.describe(code))", file: path)
        }
        self.handle = handle
        let count = zip_get_num_entries(handle, 0)
        guard count >= 0 else { throw InputError(.io, "libzip: \(String(cString: zip_strerror(handle)))", file: path) }
        entries.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            var info = zip_stat_t()
            zip_stat_init(&info)
            guard zip_stat_index(handle, zip_uint64_t(index), zip_flags_t(ZIP_FL_ENC_RAW), &info) == 0,
                let namePointer = info.name
            else {
                throw InputError(.io, "libzip cannot stat entry \(index): \(String(cString: zip_strerror(handle)))", file: path)
            }
            let rawName = Array(
                UnsafeBufferPointer(start: UnsafeRawPointer(namePointer).assumingMemoryBound(to: UInt8.self), count: strlen(namePointer)))
            entries.append(
                Entry(
                    index: index, rawName: rawName,
                    size: try Checked.int(info.size, "entry \(index) size"),
                    compressedSize: try Checked.int(info.comp_size, "entry \(index) compressed size"),
                    method: UInt16(truncatingIfNeeded: info.comp_method),
                    crc: info.crc,
                    encrypted: info.encryption_method != 0))
        }
    }

    deinit { zip_discard(handle) }

    private static func describe(_ code: Int32) -> String {
        var error = zip_error_t()
        zip_error_init_with_code(&error, code)
        defer { zip_error_fini(&error) }
        return String(cString: zip_error_strerror(&error))
    }

    /// Reads `destination.count` bytes of entry `index` starting at byte `offset` of its
    /// uncompressed data. Stored entries seek; deflated entries are decompressed from the start.
    /// - Throws: `InputError` naming the record, with libzip's text, on any failure or short read.
    func read(entry index: Int, from offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        let entry = entries[index]
        precondition(offset >= 0 && offset + destination.count <= entry.size)
        let flags: zip_flags_t = entry.method == 0 ? zip_flags_t(ZIP_FL_COMPRESSED) : 0
        guard let file = zip_fopen_index(handle, zip_uint64_t(index), flags) else {
            throw InputError(
                .io, "libzip cannot open the record: \(String(cString: zip_strerror(handle)))", at: .record(entry.name), file: path)
        }
        defer { zip_fclose(file) }
        func failure(_ kind: InputError.Kind, _ what: String) -> InputError {
            InputError(kind, "\(what): \(String(cString: zip_file_strerror(file)))", at: .record(entry.name), file: path)
        }
        if offset > 0 {
            if entry.method == 0 {
                guard zip_fseek(file, zip_int64_t(offset), SEEK_SET) == 0 else { throw failure(.io, "libzip cannot seek") }
            } else {
                var skipped = 0
                var scratch = [UInt8](repeating: 0, count: min(offset, 1 << 20))
                while skipped < offset {
                    let want = min(scratch.count, offset - skipped)
                    let got = scratch.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress!, zip_uint64_t(want)) }
                    guard got > 0 else { throw failure(.io, "libzip read failed") }
                    skipped += Int(got)
                }
            }
        }
        var done = 0
        while done < destination.count {
            let got = zip_fread(file, destination.baseAddress! + done, zip_uint64_t(destination.count - done))
            guard got > 0 else {
                if got == 0 {
                    throw InputError(
                        .truncated,
                        "truncated record: expected \(destination.count) bytes from offset \(offset), got \(done)", at: .record(entry.name),
                        file: path)
                }
                throw failure(.io, "libzip read failed")
            }
            done += Int(got)
        }
    }

    /// The whole uncompressed content of entry `index`, refused beyond `limit` bytes.
    func readAll(entry index: Int, limit: Int) throws -> [UInt8] {
        let entry = entries[index]
        guard entry.size <= limit else {
            throw InputError(
                .overLimit, "record is \(entry.size) bytes, more than the cap of \(limit)", at: .record(entry.name), file: path)
        }
        var bytes = [UInt8](repeating: 0, count: entry.size)
        try bytes.withUnsafeMutableBytes { try read(entry: index, from: 0, into: $0) }
        return bytes
    }
}
