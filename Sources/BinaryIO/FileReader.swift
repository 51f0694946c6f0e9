#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Positional reads (`pread`) from an open file, for headers and directories.
///
/// Opening a checkpoint only needs a few kilobytes scattered over a file of many gigabytes;
/// reading them with `pread` avoids mapping (and later unmapping) the whole file when no tensor
/// bytes are ever requested, as in `llamakit inspect`.
public final class FileReader: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// The mode's permission bits (`0o644`), for a rewrite that replaces the file.
    public let permissions: UInt32
    let fd: Int32

    /// - Throws: `InputError` with the OS's text when the file cannot be opened.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw InputError(.io, "cannot stat: \(message)", file: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw InputError(.io, "not a regular file", file: path)
        }
        size = Int(info.st_size)
        permissions = UInt32(info.st_mode & 0o7777)
    }

    deinit { close(fd) }

    /// A mapping of this same open file (not of whatever `path` names now).
    public func map() throws -> MappedFile {
        try MappedFile(fileDescriptor: fd, path: path)
    }

    /// A new descriptor for this same open file, owned by the caller (for libzip).
    public func duplicateDescriptor() throws -> Int32 {
        let copy = dup(fd)
        guard copy >= 0 else {
            throw InputError(.io, "cannot duplicate the file descriptor: \(String(cString: strerror(errno)))", file: path)
        }
        return copy
    }

    /// The bytes of `range`, which the caller has checked lies inside the file.
    /// - Throws: `InputError` when the OS read fails or comes up short (the file shrank).
    public func bytes(_ range: Range<Int>) throws -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "range \(range) outside \(path) (\(size) bytes)")
        var buffer = [UInt8](repeating: 0, count: range.count)
        var done = 0
        try buffer.withUnsafeMutableBytes { raw in
            while done < range.count {
                let got = pread(fd, raw.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    throw InputError(
                        got < 0 ? .io : .truncated,
                        got < 0 ? "read failed: \(String(cString: strerror(errno)))" : "file ended early (changed while reading?)",
                        at: .byteOffset(range.lowerBound + done), file: path)
                }
                done += got
            }
        }
        return buffer
    }
}
