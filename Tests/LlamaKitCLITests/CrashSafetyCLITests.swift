import Foundation
import Testing

/// `convert` and `quantize` never leave a half-written output: interrupted, killed, out of
/// disk, or racing another run on the same target.
@Suite struct CrashSafetyCLITests {
    struct NeverPaused: Error, CustomStringConvertible {
        var arguments: [String]
        var description: String { "llamakit \(arguments.joined(separator: " ")) never wrote its temporary file" }
    }

    /// Starts `llamakit` paused after its first tensor (the `Failpoint`), waits until the
    /// temporary file exists, and returns the process and that file's name.
    /// - Throws: `NeverPaused` when the run ends, or 5 s pass, without the temporary file, so a
    ///   test cannot pass on a run that was refused before writing anything.
    static func startPaused(_ arguments: [String], directory: String) throws -> (Process, String) {
        let process = Process()
        process.executableURL = InspectCLITests.binary
        process.arguments = arguments
        process.currentDirectoryURL = InspectCLITests.repo
        process.environment = ProcessInfo.processInfo.environment.merging(["LLAMAKIT_FAILPOINT": "pause-after-first-tensor"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let partial = ".out.gguf.llamakit-partial-\(process.processIdentifier)"
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: directory + "/" + partial) { usleep(10_000) }
        guard FileManager.default.fileExists(atPath: directory + "/" + partial), process.isRunning else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw NeverPaused(arguments: arguments)
        }
        usleep(100_000)
        return (process, partial)
    }

    static func files(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func aSignalRemovesThePartialFileAndKeepsTheOldTarget(_ row: (signal: Int32, status: Int32)) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("previous".utf8).write(to: URL(fileURLWithPath: directory + "/out.gguf"))
        let (process, partial) = try Self.startPaused(["convert", "fixtures/demo", "-o", directory + "/out.gguf"], directory: directory)
        #expect(try Self.files(directory) == [partial, "out.gguf"])
        kill(process.processIdentifier, row.signal)
        process.waitUntilExit()
        #expect(process.terminationStatus == row.status)
        #expect(try Self.files(directory) == ["out.gguf"])
        #expect(try String(contentsOfFile: directory + "/out.gguf", encoding: .utf8) == "previous")
    }

    @Test func afterSIGKILLTheNextRunRemovesTheStaleFile() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, partial) = try Self.startPaused(["convert", "fixtures/demo", "-o", directory + "/out.gguf"], directory: directory)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The target never appeared; only the clearly named temporary file is left.
        #expect(try Self.files(directory) == [partial])
        let again = try InspectCLITests.run(["convert", "fixtures/demo", "-o", directory + "/out.gguf"])
        #expect(again.status == 0)
        #expect(try Self.files(directory) == ["out.gguf"])
    }

    /// `quantize` killed mid-write: the previous output stays whole, the input untouched.
    @Test func quantizeKilledMidWriteKeepsThePreviousOutput() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try InspectCLITests.run(["convert", "fixtures/demo", "-o", directory + "/in.gguf"]).status == 0)
        try Data("previous".utf8).write(to: URL(fileURLWithPath: directory + "/out.gguf"))
        let input = try Data(contentsOf: URL(fileURLWithPath: directory + "/in.gguf"))
        let (quantize, partial) = try Self.startPaused(
            ["quantize", directory + "/in.gguf", directory + "/out.gguf", "--type", "q8_0"], directory: directory)
        #expect(try Self.files(directory) == [partial, "in.gguf", "out.gguf"])
        kill(quantize.processIdentifier, SIGKILL)
        quantize.waitUntilExit()
        #expect(quantize.terminationReason == .uncaughtSignal && quantize.terminationStatus == SIGKILL)
        #expect(try String(contentsOfFile: directory + "/out.gguf", encoding: .utf8) == "previous")
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/in.gguf")) == input)
    }

    /// `quantize X X` is refused as a usage error before anything is opened or written.
    @Test func quantizeOntoItsOwnInputIsRefusedBeforeAnyWrite() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try InspectCLITests.run(["convert", "fixtures/demo", "-o", directory + "/out.gguf"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/out.gguf"))
        let result = try InspectCLITests.run(["quantize", directory + "/out.gguf", directory + "/out.gguf", "--type", "q8_0"])
        #expect(result.status == 2)  // bad usage
        #expect(result.stderr.hasPrefix("Error: the output must be a different file from the input\n"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try Self.files(directory) == ["out.gguf"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/out.gguf")) == before)
    }

    @Test func twoRunsOnOneTargetNeverMix() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expected: [Data] = []
        for source in ["fixtures/demo", "fixtures/llama31-tiny"] {
            #expect(try InspectCLITests.run(["convert", source, "-o", directory + "/ref.gguf"]).status == 0)
            expected.append(try Data(contentsOf: URL(fileURLWithPath: directory + "/ref.gguf")))
        }
        for _ in 0..<5 {
            let runs = ["fixtures/demo", "fixtures/llama31-tiny"].map { source -> Process in
                let process = Process()
                process.executableURL = InspectCLITests.binary
                process.arguments = ["convert", source, "-o", directory + "/out.gguf"]
                process.currentDirectoryURL = InspectCLITests.repo
                process.standardOutput = FileHandle.nullDevice
                return process
            }
            for process in runs { try process.run() }
            for process in runs { process.waitUntilExit() }
            #expect(runs.allSatisfy { $0.terminationStatus == 0 })
            let result = try Data(contentsOf: URL(fileURLWithPath: directory + "/out.gguf"))
            #expect(expected.contains(result))
            #expect(try Self.files(directory) == ["out.gguf", "ref.gguf"])
        }
    }

    /// A disk that fills: a 200 KiB tmpfs (mounting one needs root; CI runs as root).
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskIsAClearErrorAndLeavesNoPartialFile() throws {
        let mountPoint = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        func sh(_ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        try #require(try sh(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", mountPoint]) == 0)
        defer { _ = try? sh(["umount", mountPoint]) }
        try Data("previous".utf8).write(to: URL(fileURLWithPath: mountPoint + "/out.gguf"))
        let result = try InspectCLITests.run(["convert", "fixtures/demo", "-o", mountPoint + "/out.gguf"])
        #expect(result.status == 2)
        #expect(result.stderr == "error: \(mountPoint)/out.gguf: write failed: No space left on device\n")
        #expect(try Self.files(mountPoint) == ["out.gguf"])
        #expect(try String(contentsOfFile: mountPoint + "/out.gguf", encoding: .utf8) == "previous")
    }
}

extension CrashSafetyCLITests {
    /// A split set interrupted while its second member is written (the first finished but not
    /// renamed): a signal removes both temporary files, SIGKILL leaves only temporary files; no
    /// member is ever visible.
    @Test(arguments: [SIGINT, SIGKILL])
    func anInterruptedSplitWriteLeavesNoMember(_ signal: Int32) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = InspectCLITests.binary
        process.arguments = ["convert", "fixtures/demo", "-o", directory + "/out.gguf", "--split-max-tensors", "1"]
        process.currentDirectoryURL = InspectCLITests.repo
        process.environment = ProcessInfo.processInfo.environment.merging(["LLAMAKIT_FAILPOINT": "pause-after-first-tensor"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let second = ".out-00002-of-00031.gguf.llamakit-partial-\(process.processIdentifier)"
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: directory + "/" + second) { usleep(10_000) }
        #expect(FileManager.default.fileExists(atPath: directory + "/" + second) && process.isRunning)
        usleep(100_000)
        let first = ".out-00001-of-00031.gguf.llamakit-partial-\(process.processIdentifier)"
        #expect(try Self.files(directory) == [first, second])
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(try Self.files(directory) == (signal == SIGKILL ? [first, second] : []))
    }
}
