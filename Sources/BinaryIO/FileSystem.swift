#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few file-system questions readers ask, straight through POSIX (no Foundation at startup).
public enum FileSystem {
    public enum Kind: Sendable { case missing, file, directory, other }

    public static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// The names in `directory` (without `.` and `..`), sorted bytewise.
    /// - Throws: `InputError` with the OS's text when the directory cannot be read.
    public static func contents(of directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            throw InputError(.io, "cannot list: \(String(cString: strerror(errno)))", file: directory)
        }
        defer { closedir(handle) }
        var names: [String] = []
        // glibc allocates each dirent only as long as its name (d_reclen), so the name is read
        // in place up to its NUL: copying `entry.pointee.d_name` (256 bytes) read past the
        // record (AddressSanitizer, `make sanitize`).
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let entry = readdir(handle) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// `directory/name`, without doubling a trailing slash.
    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Everything before the last `/` (`""` for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates `path` and any missing parents, like `mkdir -p`.
    /// - Throws: `InputError` with the OS's text when it cannot be created or is a file.
    public static func createDirectory(_ path: String) throws {
        if kind(of: path) == .directory { return }
        let parent = parent(of: path)
        if !parent.isEmpty && parent != path && kind(of: parent) == .missing { try createDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || (errno == EEXIST && kind(of: path) == .directory) else {
            throw InputError(.io, "cannot create the directory: \(String(cString: strerror(errno)))", file: path)
        }
    }

    /// Removes the file at `path`.
    /// - Throws: `InputError` with the OS's text.
    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 else { throw InputError(.io, "cannot remove: \(String(cString: strerror(errno)))", file: path) }
    }

    /// `path` with symbolic links followed: the file a rewrite in place must replace (renaming
    /// over the link would replace the link). `path` itself when it does not resolve.
    public static func resolvingLinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Everything after the last `/`.
    public static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The whole file, refused beyond `limit` bytes.
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let file = try MappedFile(path: path)
        guard file.size <= limit else {
            throw InputError(.overLimit, "file of \(file.size) bytes exceeds the cap of \(limit)", file: path)
        }
        return file.copyBytes(0..<file.size)
    }

    /// A kernel pseudo-file (`/proc/meminfo`, a cgroup's `memory.max`) read to its end: these
    /// report a size of 0, so they cannot be mapped or sized first. Nil when it cannot be opened.
    public static func readPseudoFile(_ path: String, limit: Int) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes.prefix(limit), as: UTF8.self)
    }

    /// A UTF-8 text file, refused beyond `limit` bytes or at the first byte that is not UTF-8.
    public static func readText(_ path: String, limit: Int) throws -> String {
        let bytes = try read(path, limit: limit)
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput, .error: break loop
            }
        }
        throw InputError(.malformed, "not UTF-8 text", at: .byteOffset(offset), file: path)
    }
}
