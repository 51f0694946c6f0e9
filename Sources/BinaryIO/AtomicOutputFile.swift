#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The temporary files being written, for the signal handler: it may only call async-signal-safe
/// functions, so it walks fixed slots of C strings and calls `unlink`, then `_exit`. Slots are
/// never freed (a handler running on another thread can never read freed memory); a mutex orders
/// registrations, so several outputs written at once by one process (the tests do) each keep
/// their own slot (a single global pointer leaked one path and lost the other: LeakSanitizer).
private final class PartialFileRegistry: @unchecked Sendable {
    static let slotCount = 32
    static let slotBytes = 4096
    let paths: UnsafeMutablePointer<CChar>
    let active: UnsafeMutablePointer<Int32>
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private var activeCount = 0

    init() {
        paths = .allocate(capacity: Self.slotCount * Self.slotBytes)
        paths.initialize(repeating: 0, count: Self.slotCount * Self.slotBytes)
        active = .allocate(capacity: Self.slotCount)
        active.initialize(repeating: 0, count: Self.slotCount)
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    /// - Returns: the slot, or nil when all are taken or the path does not fit (no cleanup on
    ///   signals for that file then; SIGKILL-style recovery still applies).
    func register(_ path: String) -> Int? {
        let bytes = Array(path.utf8)
        guard bytes.count < Self.slotBytes else { return nil }
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard let slot = (0..<Self.slotCount).first(where: { active[$0] == 0 }) else { return nil }
        let base = paths + slot * Self.slotBytes
        for (index, byte) in bytes.enumerated() { base[index] = CChar(bitPattern: byte) }
        base[bytes.count] = 0
        active[slot] = 1
        activeCount += 1
        if activeCount == 1 {
            // A parent may have spawned us with these blocked (libdispatch threads block signals,
            // and a spawned process inherits the mask): unblock them, or ^C would wait until the end.
            var set = sigset_t()
            sigemptyset(&set)
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal(sig, removePartialOutputsAndExit)
                sigaddset(&set, sig)
            }
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
        return slot
    }

    func unregister(_ slot: Int) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        active[slot] = 0
        activeCount -= 1
        if activeCount == 0 { for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) } }
    }
}

private let partialFiles = PartialFileRegistry()

/// SIGINT/SIGTERM/SIGHUP while writing: remove the partial files, exit 128 + signal (130 for ^C).
private func removePartialOutputsAndExit(_ signal: Int32) {
    for slot in 0..<PartialFileRegistry.slotCount where partialFiles.active[slot] != 0 {
        unlink(partialFiles.paths + slot * PartialFileRegistry.slotBytes)
    }
    _exit(128 + signal)
}

/// An output written to a temporary file beside its target and renamed over it only when
/// complete (`docs/architecture.md` §3 rule 5): a failed run leaves the old target untouched and no partial file.
///
/// Buffered; `commit()` flushes, fsyncs and renames; dropping it uncommitted removes the
/// temporary file. The temporary file is `.NAME.llamakit-partial-PID` beside the target: SIGINT,
/// SIGTERM and SIGHUP remove it (exit 130, 143, 129); after a SIGKILL or a power cut it stays,
/// and the next run writing the same target removes it if process PID is gone. Two runs writing
/// one target each write their own temporary file and rename it whole, so the target is always
/// one run's complete output.
public final class AtomicOutputFile {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var committed = false
    public private(set) var bytesWritten = 0
    /// This file's slot in the signal handler's list, while it is being written.
    private var signalSlot: Int?

    private static let bufferSize = 1 << 20

    /// - Parameter permissions: the new file's permission bits exactly (a rewrite in place keeps
    ///   the old file's); by default 0o644 less the umask.
    /// - Throws: `InputError` with the OS's text when the directory is not writable.
    public init(path: String, permissions: UInt32? = nil) throws {
        self.path = path
        let directory = FileSystem.parent(of: path)
        let name = String(path.split(separator: "/").last ?? "")
        temporaryPath = FileSystem.join(directory, ".\(name).llamakit-partial-\(getpid())")
        Self.removeStalePartials(directory: directory, name: name)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw InputError(.io, "cannot create the output next to it: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
        if let permissions, fchmod(fd, mode_t(permissions)) != 0 {
            close(fd)
            unlink(temporaryPath)
            throw InputError(.io, "cannot set the output's permissions: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
        buffer.reserveCapacity(Self.bufferSize)
        signalSlot = partialFiles.register(temporaryPath)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
        forgetForSignals()
    }

    private func forgetForSignals() {
        if let slot = signalSlot {
            signalSlot = nil
            partialFiles.unregister(slot)
        }
    }

    /// Removes `.NAME.llamakit-partial-PID` files left by runs that were killed (PID no longer
    /// exists); a live run's file is left alone.
    static func removeStalePartials(directory: String, name: String) {
        let prefix = ".\(name).llamakit-partial-"
        guard let entries = try? FileSystem.contents(of: directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(FileSystem.join(directory, entry)) }
        }
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
            guard wrote > 0 else { throw InputError(.io, "write failed: \(String(cString: strerror(errno)))", file: path) }
            done += wrote
        }
    }

    /// Appends `count` bytes of `source` from `offset`, copied file to file by the kernel
    /// (`sendfile`), never through this process's memory; falls back to `pread` + `write`.
    /// - Throws: `InputError` if the source ends early or a write fails.
    public func copy(from source: FileReader, offset: Int, count: Int) throws {
        precondition(offset >= 0 && count >= 0 && offset + count <= source.size)
        try flush()
        var position = offset
        var remaining = count
        while remaining > 0 {
            let sent = sendfile(fd, source.fd, &position, min(remaining, 1 << 30))
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 && (errno == EINVAL || errno == ENOSYS) { break }
            guard sent > 0 else {
                throw InputError(
                    sent == 0 ? .truncated : .io,
                    sent == 0 ? "the source ended early" : "write failed: \(String(cString: strerror(errno)))", file: path)
            }
            remaining -= sent
        }
        if remaining > 0 {
            while remaining > 0 {
                let length = min(remaining, Self.bufferSize)
                try source.bytes(position..<position + length).withUnsafeBytes { try writeAll($0) }
                position += length
                remaining -= length
            }
        }
        bytesWritten += count
    }

    /// Flushes, syncs (unless `sync` is false) and renames the temporary file over the target.
    /// Without the sync the rename can reach the disk before the data: after a power cut the
    /// target may be empty or partial (a crash of the process alone is still safe).
    public func commit(sync: Bool = true) throws {
        try finish(sync: sync)
        try publish()
    }

    /// Flushes, syncs (unless `sync` is false) and closes the temporary file without renaming
    /// it: a set of outputs is finished member by member, then published together.
    public func finish(sync: Bool = true) throws {
        guard fd >= 0 else { return }
        try flush()
        guard !sync || fsync(fd) == 0 else { throw InputError(.io, "fsync failed: \(String(cString: strerror(errno)))", file: path) }
        close(fd)
        fd = -1
    }

    /// Renames the finished temporary file over the target.
    public func publish() throws {
        precondition(fd < 0, "finish before publishing")
        guard rename(temporaryPath, path) == 0 else {
            throw InputError(.io, "cannot rename the finished output into place: \(String(cString: strerror(errno)))", file: path)
        }
        committed = true
        forgetForSignals()
    }

    /// Removes a published output again: a set whose first member could not be published must
    /// not leave its other members behind.
    public func withdraw() {
        if committed { unlink(path) }
    }
}
