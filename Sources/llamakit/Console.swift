#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Results go to stdout, messages to stderr (`docs/architecture.md` §4).
enum Console {
    static func error(_ text: String) {
        let line = Array((text + "\n").utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// Writes `text` to stdout at once (streamed generation); nothing else in the same command
    /// may use `print`'s buffer before it.
    static func out(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }

    static var stdoutIsTerminal: Bool { isatty(1) != 0 }
    static var stderrIsTerminal: Bool { isatty(2) != 0 }

    /// Rewrites the current stderr line (progress on a terminal).
    static func status(_ text: String) {
        let line = Array(("\r\u{1B}[K" + text).utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    static func exit(_ status: Int32) -> Never {
        fflush(nil)
        #if canImport(Glibc)
            Glibc.exit(status)
        #else
            Darwin.exit(status)
        #endif
    }
}
