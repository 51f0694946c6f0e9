import BinaryIO
import Foundation
import Testing

@testable import GGUF

/// A split set that is incomplete or mixed is refused before any work, naming the file.
@Suite struct GGUFSplitBadInputTests {
    /// The set under test: 7 tensors, 2 per member, so 4 members (2, 2, 2, 1).
    static let count = 4

    static func member(_ directory: String, _ number: Int, prefix: String = "m", of count: Int = count) -> String {
        GGUFSplit.path(prefix: directory + "/" + prefix, index: number - 1, count: count)
    }

    static func writeSet(_ directory: String, prefix: String, tensors: Int) throws {
        let (writer, data) = try GGUFSplitTests.model(tensors: tensors)
        _ = try GGUFSplitTests.write(writer, data, to: directory + "/" + prefix + ".gguf", split: .maxTensors(2))
    }

    static func replace(_ target: String, with source: String) throws {
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: source, toPath: target)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// Spoils the set in the directory.
        var spoil: @Sendable (String) throws -> Void
        /// The member the error must name (1-based).
        var named: Int
        var kind: InputError.Kind
        /// Text the message must contain.
        var says: String
        /// The member given to the reader (1-based).
        var given = 1
    }

    static let rows: [Row] = [
        Row(
            testDescription: "a member missing", spoil: { try FileManager.default.removeItem(atPath: member($0, 3)) }, named: 3,
            kind: .missing, says: "member 3 of 4"),
        Row(
            testDescription: "a member of a set with another count",
            spoil: { directory in
                try writeSet(directory, prefix: "o", tensors: 5)
                try replace(member(directory, 2), with: member(directory, 2, prefix: "o", of: 3))
            }, named: 2, kind: .mismatch, says: "another split set"),
        Row(
            testDescription: "a member of a set with another tensor count",
            spoil: { directory in
                try writeSet(directory, prefix: "o", tensors: 8)
                try replace(member(directory, 2), with: member(directory, 2, prefix: "o"))
            }, named: 2, kind: .mismatch, says: "split.tensors.count 8"),
        Row(
            testDescription: "split.no out of place",
            spoil: { directory in
                try FileManager.default.moveItem(atPath: member(directory, 2), toPath: directory + "/swap")
                try FileManager.default.moveItem(atPath: member(directory, 3), toPath: member(directory, 2))
                try FileManager.default.moveItem(atPath: directory + "/swap", toPath: member(directory, 3))
            }, named: 2, kind: .mismatch, says: "split.no is 2"),
        Row(
            testDescription: "a tensor in two members",
            spoil: { directory in
                // Member 2's tensors again as member 3: split.no (the u16 at byte 44) set to 2.
                var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: member(directory, 2))))
                bytes[44] = 2
                try Data(bytes).write(to: URL(fileURLWithPath: member(directory, 3)))
            }, named: 3, kind: .mismatch, says: "is also in"),
        Row(
            testDescription: "a later member given", spoil: { _ in }, named: 2, kind: .mismatch, says: "give its first file",
            given: 2),
    ]

    @Test(arguments: rows)
    func refusedNamingTheFile(_ row: Row) throws {
        let directory = try GGUFSplitTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.writeSet(directory, prefix: "m", tensors: 7)
        _ = try GGUFSplitSet(path: Self.member(directory, 1))
        try row.spoil(directory)
        let error = try #require(throws: InputError.self) { _ = try GGUFSplitSet(path: Self.member(directory, row.given)) }
        #expect(error.kind == row.kind)
        #expect(error.file == Self.member(directory, row.named), "\(error)")
        #expect(error.message.contains(row.says), "\(error)")
        if row.given != 1 { #expect(error.message.contains(Self.member(directory, 1))) }
    }
}
