#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An output written to a temporary file beside its target and renamed over it only when
/// complete (DESIGN.md rule 5): a failed run leaves the old target untouched and no partial file.
///
/// Buffered; `commit()` flushes, fsyncs and renames; dropping it uncommitted removes the
/// temporary file.
public final class AtomicOutputFile {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    public private(set) var bytesWritten = 0

    private static let bufferSize = 1 << 20

    /// - Throws: `InputError` with the OS's text when the directory is not writable.
    public init(path: String) throws {
        self.path = path
        let directory = FileSystem.parent(of: path)
        let name = String(path.split(separator: "/").last ?? "")
        temporaryPath = FileSystem.join(directory, ".\(name).llamakit-partial-\(getpid())")
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw InputError("cannot create the output next to it: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        bytesWritten += bytes.count
        if buffer.count + bytes.count <= Self.bufferSize {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= Self.bufferSize {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func writeZeros(_ count: Int) throws {
        try write([UInt8](repeating: 0, count: count))
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let wrote = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { throw InputError("write failed: \(String(cString: strerror(errno)))", file: path) }
            done += wrote
        }
    }

    /// Flushes, syncs and renames the temporary file over the target.
    public func commit() throws {
        try flush()
        guard fsync(fd) == 0 else { throw InputError("fsync failed: \(String(cString: strerror(errno)))", file: path) }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            throw InputError("cannot rename the finished output into place: \(String(cString: strerror(errno)))", file: path)
        }
        committed = true
    }
}
