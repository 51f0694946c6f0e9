#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory mapping of a whole file.
///
/// Immutable after `init`, so it is safe to share across threads. Callers validate every range
/// against `size` before asking for bytes; an out-of-range request is a programmer error.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeRawPointer?

    /// - Throws: `InputError` when the file cannot be opened, stat'ed or mapped, with the OS's text.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path) }
        defer { close(fd) }
        try self.init(fileDescriptor: fd, path: path)
    }

    /// Maps the file open on `fd` (which stays owned by the caller).
    public init(fileDescriptor fd: Int32, path: String) throws {
        self.path = path
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw InputError(.io, "cannot stat: \(String(cString: strerror(errno)))", file: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw InputError(.io, "not a regular file", file: path) }
        size = Int(info.st_size)
        if size == 0 {
            base = nil
            return
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw InputError(.io, "cannot map \(size) bytes: \(String(cString: strerror(errno)))", file: path)
        }
        base = UnsafeRawPointer(pointer)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Calls `body` with the bytes of `range`, in place.
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "range \(range) outside \(path) (\(size) bytes)")
        guard let base, !range.isEmpty else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// A copy of the bytes of `range` (for small headers and directories).
    public func copyBytes(_ range: Range<Int>) -> [UInt8] {
        withBytes(range) { Array($0) }
    }

    /// Drops the pages of `range` from this process (they stay in the page cache), so reading a
    /// file of many gigabytes once does not grow the resident set by its size.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_DONTNEED)
    }

    /// Tells the kernel `range` will be read once, front to back, soon.
    public func adviseSequential(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let pointer = UnsafeMutableRawPointer(mutating: base + start)
        _ = madvise(pointer, range.upperBound - start, MADV_SEQUENTIAL)
        _ = madvise(pointer, range.upperBound - start, MADV_WILLNEED)
    }
}
