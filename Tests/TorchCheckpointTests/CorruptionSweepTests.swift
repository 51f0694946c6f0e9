import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import TorchCheckpoint

/// Truncations and byte flips at many positions: every outcome is a clean `InputError` or a
/// successful read, never a crash or a hang.
@Suite struct CorruptionSweepTests {
    private static func withTemporaryFile(_ bytes: [UInt8], _ body: (String) throws -> Void) rethrows {
        let path = NSTemporaryDirectory() + "llamakit-corrupt-\(UUID().uuidString).pth"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    /// Opens and reads every tensor; returns nil on success or the error.
    private static func openAndReadAll(_ path: String) -> InputError? {
        do {
            let file = try PthFile(path: path)
            for info in file.tensorInfos {
                try file.withBytes(of: info.name) { _ in }
            }
            return nil
        } catch let error as InputError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    static let sources = ["hostile/valid-minimal.pth", "torch/views.pth", "llama3-tiny/consolidated.00.pth"]

    @Test(arguments: sources)
    func truncationAtManyCutPoints(_ fixture: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture))))
        let step = max(1, bytes.count / 400)
        for cut in stride(from: 0, to: bytes.count, by: step) {
            Self.withTemporaryFile(Array(bytes[..<cut])) { path in
                let error = Self.openAndReadAll(path)
                #expect(error != nil, "truncated at \(cut) of \(bytes.count) was accepted")
            }
        }
    }

    @Test(arguments: sources)
    func byteFlipsNeverCrash(_ fixture: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture))))
        // The structure lives at the front (local headers, data.pkl) and the back (central
        // directory, end records); tensor bytes in between only change values. At most ~1,500
        // positions per file keeps the sweep to seconds.
        let window = 3_000
        let structural =
            bytes.count <= 2 * window
            ? Array(0..<bytes.count)
            : Array(0..<window) + Array((bytes.count - window)..<bytes.count)
        let step = max(1, structural.count / 1_500)
        let positions = stride(from: 0, to: structural.count, by: step).map { structural[$0] }
        var refused = 0
        for position in positions {
            for value: UInt8 in [0xFF, bytes[position] ^ 0x01] where value != bytes[position] {
                var copy = bytes
                copy[position] = value
                Self.withTemporaryFile(copy) { path in
                    if Self.openAndReadAll(path) != nil { refused += 1 }
                }
            }
        }
        #expect(refused > 0)
    }

    @Test func brokenCentralDirectoryIsRefused() throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("hostile/valid-minimal.pth"))))
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let first = try #require((0..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == signature })
        bytes[first] = 0x51
        try Self.withTemporaryFile(bytes) { path in
            let error = try #require(Self.openAndReadAll(path))
            #expect(error.description.contains("zip archive") || error.description.contains("central directory"), "\(error)")
        }
    }
}

/// Opening many good and bad files leaves no descriptor behind. Private copies in a fresh
/// directory, so descriptors that parallel suites hold elsewhere are not counted.
@Suite struct DescriptorLeakTests {
    private static func descriptors(into directory: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"))?.hasPrefix(directory) == true
        }.count
    }

    @Test func openingAndFailingReleasesEveryDescriptor() throws {
        let directory = NSTemporaryDirectory() + "llamakit-fd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = ["torch/views.pth", "hostile/claims-4gib-record.pth", "hostile/global-os-system.pth", "torch/legacy.pth"]
        var paths: [String] = []
        for (index, fixture) in fixtures.enumerated() {
            let copy = directory + "/\(index).pth"
            try FileManager.default.copyItem(atPath: Fixtures.path(fixture), toPath: copy)
            paths.append(copy)
        }
        var opened = 0
        for _ in 0..<50 {
            for path in paths {
                if let file = try? PthFile(path: path) {
                    try file.withBytes(of: file.tensorInfos[0].name) { _ in }
                    #expect(try Self.descriptors(into: directory) > 0)
                    opened += 1
                }
            }
        }
        #expect(opened == 50)
        #expect(try Self.descriptors(into: directory) == 0)
    }
}
