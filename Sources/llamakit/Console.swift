import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private let interruptFlag = Atomic<Bool>(false)

/// Results go to stdout, messages to stderr (`docs/architecture.md` §4).
enum Console {
    static func error(_ text: String, newline: Bool = true) {
        let line = Array((text + (newline ? "\n" : "")).utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// Writes `text` to stdout at once (streamed generation); nothing else in the same command
    /// may use `print`'s buffer before it.
    static func out(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
    }

    static var stdoutIsTerminal: Bool { isatty(1) != 0 }
    static var stdinIsTerminal: Bool { isatty(0) != 0 }

    /// From now on Ctrl-C sets `interrupted` instead of ending the program (a chat's answer stops).
    static func watchInterrupts() {
        signal(SIGINT) { _ in interruptFlag.store(true, ordering: .relaxed) }
    }

    static var interrupted: Bool { interruptFlag.load(ordering: .relaxed) }
    static func clearInterrupt() { interruptFlag.store(false, ordering: .relaxed) }
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
