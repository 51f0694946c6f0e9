import Foundation
import Testing

/// `--max-memory` (`docs/memory.md`): every command works out its memory before it starts and
/// refuses an over-budget plan with exit 2 and one line, writing nothing.
@Suite struct MemoryBudgetCLITests {
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> InspectCLITests.Run {
        guard !environment.isEmpty else { return try InspectCLITests.run(arguments) }
        let process = Process()
        process.executableURL = InspectCLITests.binary
        process.arguments = arguments
        process.currentDirectoryURL = InspectCLITests.repo
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return InspectCLITests.Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Each command on a fixture, with `OUT` standing for an output path.
    static let commands: [(name: String, arguments: [String])] = [
        ("convert", ["convert", "fixtures/llama3-tiny-mp2", "-o", "OUT"]),
        ("convert", ["convert", "fixtures/llama2-tiny-mp2", "-o", "OUT", "--to", "hf"]),
        ("quantize", ["quantize", "fixtures/gguf/GGUF_INPUT", "OUT", "--type", "q8_0"]),
        ("inspect", ["inspect", "fixtures/llama3-tiny-mp2"]),
        ("verify", ["verify", "fixtures/llama3-tiny-mp2", "--reference", "fixtures/llama3-tiny/reference/reference.pth"]),
        ("verify", ["verify", "fixtures/llama3-tiny", "--against", "fixtures/llama3-tiny-mp2", "--tokens", "1,2,3"]),
        ("generate", ["generate", "fixtures/llama2-tiny-mp2", "--prompt-tokens", "1,2,3", "-n", "2"]),
        ("perplexity", ["perplexity", "fixtures/demo", "--text-file", "fixtures/text/grammar.txt", "--ctx", "16", "--chunks", "1"]),
        ("diff", ["diff", "fixtures/llama3-tiny-mp2", "fixtures/llama3-tiny"]),
    ]

    /// `OUT` as `output`, and a GGUF converted once for `quantize`.
    static func resolved(_ arguments: [String], output: String, directory: String) throws -> [String] {
        try arguments.map { argument in
            switch argument {
            case "OUT": return output
            case "fixtures/gguf/GGUF_INPUT":
                let input = directory + "/input.gguf"
                if !FileManager.default.fileExists(atPath: input) {
                    let converted = try run(["convert", "fixtures/llama3-tiny", "-o", input])
                    #expect(converted.status == 0, "\(converted.stderr)")
                }
                return input
            default: return argument
            }
        }
    }

    @Test func everyCommandRefusesAPlanOverTheLimitAndWritesNothing() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (index, command) in Self.commands.enumerated() {
            let output = directory + "/out-\(index)"
            let arguments = try Self.resolved(command.arguments, output: output, directory: directory)
            let refused = try Self.run(arguments + ["--max-memory", "1M"])
            #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("error: \(command.name) needs about "), "\(refused.stderr)")
            #expect(refused.stderr.contains(" but --max-memory is 1.0 MB: "), "\(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
            #expect(refused.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: output), "\(arguments) wrote \(output)")
        }
    }

    @Test func theDefaultLimitPassesOnTheFixtures() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (index, command) in Self.commands.enumerated() {
            let arguments = try Self.resolved(command.arguments, output: directory + "/out-\(index)", directory: directory)
            let result = try Self.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
    }

    /// The forward pass over a shard set says how it holds the weights, on stderr only.
    @Test(arguments: ["llama3-tiny-mp2", "llama2-tiny-mp2"])
    func verifySaysTheShardsAreReadInPlace(_ name: String) throws {
        let reference = "fixtures/\(name.replacingOccurrences(of: "-mp2", with: ""))/reference/reference.pth"
        let result = try Self.run(["verify", "fixtures/\(name)", "--reference", reference, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "fixtures/\(name): weights read in place from its 2 shards (0 B copied, no merged copy)\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["pass"] as? Bool == true)
    }

    /// The plan is an upper bound of what the run takes: the peak of anonymous memory, sampled
    /// by `LLAMAKIT_REPORT_PEAK_RSS`, stays under the total the refusal states.
    @Test func measuredAnonymousPeakStaysUnderThePlan() throws {
        let arguments = ["verify", "fixtures/demo", "--reference", "fixtures/demo/reference/reference.pth"]
        let refused = try Self.run(arguments + ["--max-memory", "1K"])
        let planned = try #require(Self.bytes(after: "needs about ", in: refused.stderr))
        let measured = try Self.run(arguments, environment: ["LLAMAKIT_REPORT_PEAK_RSS": "1"])
        #expect(measured.status == 0, "\(measured.stderr)")
        let line = try #require(measured.stderr.split(separator: "\n").last { $0.hasPrefix("llamakit: peak anonymous RSS ") })
        let kilobytes = try #require(Int(line.split(separator: " ")[4]))
        #expect(kilobytes > 0)
        #expect(kilobytes * 1024 <= planned, "measured \(kilobytes) kB, planned \(planned) bytes")
    }

    /// "50.3 MB" after `marker`, in bytes.
    static func bytes(after marker: String, in text: String) -> Int? {
        guard let range = text.range(of: marker) else { return nil }
        let words = text[range.upperBound...].split(separator: " ")
        guard words.count >= 2, let value = Double(words[0]) else { return nil }
        let unit: [String: Double] = ["B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12]
        return unit[String(words[1])].map { Int(value * $0) }
    }
}
