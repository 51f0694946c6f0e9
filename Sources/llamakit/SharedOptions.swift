import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// `--threads`, the same for every command that computes: results do not depend on the count.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: the CPUs online, at most 8). Results are the same for any count.")
    var threads: Int = min(8, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    func validate() throws {
        if threads < 1 || threads > 256 { throw ValidationError("--threads must be 1…256") }
    }
}

/// How `convert` and `quantize` write their output.
struct WriteOptions: ParsableArguments {
    @OptionGroup var threadOptions: ThreadOptions

    @Flag(help: "Skip the fsync before the final rename: faster, but after a power cut (not a crash) the file may be empty.")
    var noSync = false

    var threads: Int { threadOptions.threads }
}

/// Token ids on the command line: `128000,791,6864` (commas or spaces between ids).
struct TokenIDList: ExpressibleByArgument {
    var ids: [Int]

    init?(argument: String) {
        let parts = argument.split(whereSeparator: { $0 == "," || $0 == " " })
        var ids: [Int] = []
        for part in parts {
            guard let id = Int(part) else { return nil }
            ids.append(id)
        }
        guard !ids.isEmpty else { return nil }
        self.ids = ids
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
