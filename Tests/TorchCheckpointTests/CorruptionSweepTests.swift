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

    /// A record's bytes in the file, from the central directory and its local header: parsed
    /// here, apart from the reader under test.
    struct Record {
        var name: String
        var localHeader: Int
        var data: Range<Int>
    }

    static func records(_ bytes: [UInt8]) throws -> [Record] {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        let end = try #require((0...(bytes.count - 22)).last { u32($0) == 0x0605_4B50 })
        var at = u32(end + 16)
        var records: [Record] = []
        for _ in 0..<u16(end + 10) {
            try #require(u32(at) == 0x0201_4B50)
            let nameLength = u16(at + 28)
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            let local = u32(at + 42)
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            records.append(Record(name: name, localHeader: local, data: start..<(start + u32(at + 20))))
            at += 46 + nameLength + u16(at + 30) + u16(at + 32)
        }
        return records
    }

    /// Every tensor's name, dtype, shape and bytes, or the `InputError` that refused the file.
    static func readAll(_ path: String) -> Result<[(info: TensorInfo, bytes: [UInt8])], InputError> {
        do {
            let file = try PthFile(path: path)
            return .success(
                try file.tensorInfos.map { info in
                    let bytes = try file.withBytes(of: info.name) { raw in
                        [UInt8](unsafeUninitializedCapacity: raw.count) { buffer, count in
                            if raw.count > 0 {
                                buffer.baseAddress!.initialize(from: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: raw.count)
                            }
                            count = raw.count
                        }
                    }
                    return (info, bytes)
                })
        } catch let error as InputError {
            return .failure(error)
        } catch {
            Issue.record("unexpected error type: \(error)")
            return .failure(InputError(.malformed, "\(error)"))
        }
    }

    /// `a == b` through memcmp: the sweep compares megabytes per flip, too slow element-wise in
    /// a debug build.
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count
            && (a.isEmpty || a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 } })
    }

    /// Torch's records carry CRC-32s, but the reader (like torch's own mmap path) does not check
    /// them, so a flipped byte cannot always be noticed. What is guaranteed, for every flip:
    /// - in a storage record's bytes (`data/N`): accepted, the same tensors, and the values
    ///   differ only by that flip, wherever a view shows the byte;
    /// - in `data.pkl`: refused with `InputError`, or a pickle that still describes readable
    ///   tensors (a flipped name character is a different, valid name);
    /// - anywhere else (zip headers, central directory, end records, the small records):
    ///   refused with `InputError`, or no effect on a single name, shape or byte.
    @Test(arguments: sources)
    func everyByteFlipIsRefusedOrHasOnlyItsOwnEffect(_ fixture: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture))))
        let records = try Self.records(bytes)
        let original = try Self.readAll(Fixtures.path(fixture)).get()
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
        var outcomes: [String: Int] = [:]
        for position in positions {
            let record = records.first { $0.data.contains(position) }
            let inStorage = record.map { $0.name.split(separator: "/").dropFirst().first == "data" } ?? false
            let inPickle = record?.name.hasSuffix("/data.pkl") ?? false
            for value: UInt8 in [0xFF, bytes[position] ^ 0x01] where value != bytes[position] {
                var copy = bytes
                copy[position] = value
                let delta = bytes[position] ^ value
                try Self.withTemporaryFile(copy) { path in
                    let place = "\(fixture): byte \(position) → \(value)"
                    switch Self.readAll(path) {
                    case .failure:
                        #expect(!inStorage, "\(place): a flip in tensor data was refused")
                        outcomes["refused", default: 0] += 1
                    case .success(let read) where inPickle:
                        outcomes["pickle accepted", default: 0] += 1
                        #expect(!read.isEmpty || original.isEmpty, "\(place)")
                    case .success(let read):
                        let same =
                            read.map(\.info.name) == original.map(\.info.name) && read.map(\.info.dtype) == original.map(\.info.dtype)
                            && read.map(\.info.shape) == original.map(\.info.shape)
                        try #require(same, "\(place): accepted with other tensors")
                        let changed = zip(read, original).filter { !Self.same($0.0.bytes, $0.1.bytes) }.map(\.0.info.name)
                        if inStorage {
                            for (got, want) in zip(read, original) where changed.contains(got.info.name) {
                                let ok = got.bytes.withUnsafeBufferPointer { a in
                                    want.bytes.withUnsafeBufferPointer { b in
                                        (0..<a.count).allSatisfy { a[$0] == b[$0] || a[$0] ^ b[$0] == delta }
                                    }
                                }
                                #expect(ok, "\(place): \(got.info.name) changed by more than the flip")
                            }
                            outcomes["data accepted", default: 0] += 1
                        } else {
                            #expect(changed.isEmpty, "\(place): a structural flip changed the bytes of \(changed)")
                            outcomes["structure accepted, no effect", default: 0] += 1
                        }
                    }
                }
            }
        }
        print("flips: \(fixture): \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes["refused", default: 0] > 0)
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
