import Foundation
import Testing

@testable import BinaryIO

/// Kernel pseudo-files report a size of 0; they are read to their end, not sized first.
@Suite struct PseudoFileTests {
    @Test func procMeminfoIsReadWhole() throws {
        let text = try #require(FileSystem.readPseudoFile("/proc/meminfo", limit: 1 << 16))
        let expected = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") } }
        #expect(total(text) != nil && total(text) == total(expected))
        #expect(FileSystem.readPseudoFile("/proc/meminfo", limit: 10)?.utf8.count == 10)
        #expect(FileSystem.readPseudoFile("/nonexistent/file", limit: 10) == nil)
    }
}
