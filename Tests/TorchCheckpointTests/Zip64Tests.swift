import BinaryIO
import Foundation
import TensorCore
import Testing

@testable import TorchCheckpoint

/// Zip64 without a > 4 GiB file: fixtures/zip64/make_zip64.py rewrote a torch.save archive so
/// that every size and offset lives only in zip64 fields (the classic ones are all 0xFFFFFFFF /
/// 0xFFFF), and made variants whose zip64 values contradict the rest. Python's zipfile and
/// torch.load read the valid one back.
@Suite struct Zip64Tests {
    struct Expected: Decodable {
        var tensors: [String: String]
        var central_directory_offset: Int
        var records: [String]
    }

    static func path(_ name: String) -> String { Fixtures.path("zip64/" + name) }

    static let expected: Expected = try! JSONDecoder().decode(
        Expected.self, from: Data(contentsOf: URL(fileURLWithPath: path("zip64.json"))))

    @Test(arguments: PthFile.ReadPath.allCases)
    func sizesAndOffsetsComeFromTheZip64Fields(_ readPath: PthFile.ReadPath) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("zip64.pth"))))
        // The classic end record says nothing: every value must come from the zip64 records.
        #expect(Array(bytes[(bytes.count - 12)..<(bytes.count - 2)]) == [UInt8](repeating: 0xFF, count: 10))
        let directory = try ZipDirectory(file: try FileReader(path: Self.path("zip64.pth")))
        #expect(directory.centralDirectoryOffset == Self.expected.central_directory_offset)
        #expect(directory.entries.map(\.name) == Self.expected.records)
        for entry in directory.entries {
            #expect(Array(bytes[entry.localHeaderOffset..<entry.localHeaderOffset + 4]) == [0x50, 0x4B, 0x03, 0x04], "\(entry.name)")
        }
        let file = try PthFile(path: Self.path("zip64.pth"))
        file.readPath = readPath
        #expect(Set(file.tensorInfos.map(\.name)) == Set(Self.expected.tensors.keys))
        #expect(file.info(named: "w")?.shape == [2, 3] && file.info(named: "w")?.dtype == .f32)
        #expect(file.info(named: "b")?.shape == [5] && file.info(named: "b")?.dtype == .i64)
        for (name, hex) in Self.expected.tensors {
            #expect(try file.withBytes(of: name) { Fixtures.hex($0) } == hex, "\(name)")
        }
    }

    /// Each contradiction is refused at the place it is found.
    @Test func contradictingZip64ValuesAreRefused() throws {
        let valid = Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("zip64.pth"))))
        let name = Array("archive/data/0".utf8)
        let occurrences = (0...(valid.count - name.count)).filter { Array(valid[$0..<$0 + name.count]) == name }
        try #require(occurrences.count == 2)
        let localHeader = occurrences[0] - 30
        let centralEntry = occurrences[1] - 46
        let rows: [(file: String, offset: Int, fact: String)] = [
            ("zip64-cd-offset-differs.pth", valid.count - 22, "zip64 \(Self.expected.central_directory_offset)"),
            ("zip64-header-offset-wrong.pth", localHeader + 1, "archive/data/0"),
            ("zip64-size-differs.pth", centralEntry, "archive/data/0"),
        ]
        for row in rows {
            let error = #expect(throws: InputError.self, "\(row.file)") { _ = try PthFile(path: Self.path(row.file)) }
            #expect(error?.location == .byteOffset(row.offset), "\(row.file): \(error?.description ?? "")")
            #expect(error?.message.contains(row.fact) == true, "\(row.file): \(error?.description ?? "")")
            #expect(error?.file == Self.path(row.file))
        }
    }
}
