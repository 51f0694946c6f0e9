import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// How `convert` and `quantize` write their output.
struct WriteOptions: ParsableArguments {
    @Option(help: "Threads that quantize or narrow the tensors (default: the CPUs online, at most 8). The file is the same for any count.")
    var threads: Int = min(8, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    @Flag(help: "Skip the fsync before the final rename: faster, but after a power cut (not a crash) the file may be empty.")
    var noSync = false

    func validate() throws {
        if threads < 1 || threads > 256 { throw ValidationError("--threads must be 1…256") }
    }
}
