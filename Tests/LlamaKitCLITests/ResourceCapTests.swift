import Foundation
import Testing

/// True under `make sanitize`: AddressSanitizer's shadow memory and quarantine change RSS.
let underSanitizer = dlsym(nil, "__asan_init") != nil || dlsym(nil, "__tsan_init") != nil

/// Issue 6 item 4: no input of N bytes makes a reader allocate more than a small multiple of N
/// plus a fixed cap, and none makes it hang. Each row builds an adversarial input at two sizes,
/// runs the real `llamakit` on it in a child process and reads the child's peak RSS: the growth between the two sizes, per input byte, is the marginal multiple; the peak
/// over a trivial run is bounded by multiple × N + fixed cap. `SECURITY.md`, "Memory per input byte", states the figures.
@Suite(.serialized, .enabled(if: !underSanitizer, "sanitizers change what memory a run takes"))
struct ResourceCapTests {
    /// Peak resident set (bytes), exit status and wall time of one `llamakit` run.
    struct Measured {
        var status: Int32
        var signaled: Bool
        var peakBytes: Int
        var seconds: Double
        var stderr: String
    }

    /// Runs llamakit with `LLAMAKIT_REPORT_PEAK_RSS=1`, which makes it print its own `VmHWM`
    /// last on stderr (`wait4`'s `ru_maxrss` would include this test process's peak, which
    /// Linux carries into a spawned child across exec).
    static func measure(_ arguments: [String]) throws -> Measured {
        let process = Process()
        process.executableURL = InspectCLITests.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["LLAMAKIT_REPORT_PEAK_RSS": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let err = Pipe()
        process.standardError = err
        let start = Date()
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = String(decoding: data, as: UTF8.self)
        let report = stderr.split(separator: "\n").last { $0.hasPrefix("llamakit: peak RSS ") }
        let kilobytes = report.flatMap { Int($0.split(separator: " ")[3]) } ?? -1
        return Measured(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            peakBytes: kilobytes * 1024, seconds: Date().timeIntervalSince(start), stderr: stderr)
    }

    // MARK: - Input builders

    /// A zip of stored records, as torch writes them (with CRC-32).
    static func zip(_ records: [(name: String, data: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func le16(_ v: Int, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func le32(_ v: UInt32, _ b: inout [UInt8]) { for i in 0..<4 { b.append(UInt8(v >> (8 * UInt32(i)) & 0xFF)) } }
        for record in records {
            let name = Array(record.name.utf8), crc = crc32(record.data), size = UInt32(record.data.count)
            let offset = UInt32(out.count)
            le32(0x0403_4B50, &out); le16(20, &out); le16(0, &out); le16(0, &out); le16(0, &out); le16(0, &out)
            le32(crc, &out); le32(size, &out); le32(size, &out); le16(name.count, &out); le16(0, &out)
            out += name + record.data
            le32(0x0201_4B50, &central); le16(20, &central); le16(20, &central); le16(0, &central); le16(0, &central)
            le16(0, &central); le16(0, &central); le32(crc, &central); le32(size, &central); le32(size, &central)
            le16(name.count, &central); le16(0, &central); le16(0, &central); le16(0, &central); le16(0, &central)
            le32(0, &central); le32(offset, &central)
            central += name
        }
        let centralOffset = UInt32(out.count), centralSize = UInt32(central.count)
        out += central
        le32(0x0605_4B50, &out); le16(0, &out); le16(0, &out); le16(records.count, &out); le16(records.count, &out)
        le32(centralSize, &out); le32(centralOffset, &out); le16(0, &out)
        return out
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xFF) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(v >> (8 * UInt64($0)) & 0xFF) } }
    static func unicode(_ text: String) -> [UInt8] { [0x58] + le32(text.utf8.count) + Array(text.utf8) }

    /// A `.pth` whose data.pkl is `pickle` (protocol 2 header added), with one 4-byte storage.
    static func pth(_ pickle: [UInt8]) -> [UInt8] {
        zip([
            ("archive/data.pkl", [0x80, 0x02] + pickle), ("archive/byteorder", Array("little".utf8)),
            ("archive/data/0", [0, 0, 0, 0]), ("archive/version", Array("3\n".utf8)),
        ])
    }

    /// `_rebuild_tensor_v2(storage '0' float, 0, (1,), (1,), False, OrderedDict())`, memo slot 11.
    static let tensor: [UInt8] =
        Array("ctorch._utils\n_rebuild_tensor_v2\nq\u{0}((".utf8) + unicode("storage") + Array("q\u{1}ctorch\nFloatStorage\nq\u{2}".utf8)
        + unicode("0") + [0x71, 3] + unicode("cpu") + [
            0x71, 4, 0x4B, 1, 0x74, 0x71, 5, 0x51, 0x4B, 0, 0x4B, 1, 0x85, 0x71, 6, 0x4B, 1, 0x85, 0x71, 7, 0x89,
        ]
        + Array("ccollections\nOrderedDict\nq\u{8})Rq\u{9}tq\u{a}Rq\u{b}".utf8)

    /// A dict `{"t": tensor, "0": tensor, "1": tensor, …}` with `count` extra names of one tensor.
    static func pickleManyNames(_ count: Int, prefixBytes: Int) -> [UInt8] {
        var p: [UInt8] = [0x7D]  // root {}
        var inner: [UInt8] = [0x7D, 0x28] + unicode("t") + tensor  // {} MARK "t" tensor
        for i in 0..<count { inner += unicode(String(i)) + [0x68, 0x0B] }  // key, BINGET 11
        inner += [0x75]  // SETITEMS
        p += unicode(String(repeating: "k", count: prefixBytes)) + inner + [0x73, 0x2E]  // SETITEM STOP
        return p
    }

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        /// The measured marginal multiple (peak-RSS growth per added input byte) must stay under this.
        var maxMultiple: Double
        /// The exit status at scale 1 and at scale 4: 0 read, 2 refused as bad input.
        var statuses: [Int32]
        /// What stderr says when the run is refused: the cap or check that stops it.
        var refusal: String?
        /// Writes the input for `scale` into `directory`; returns the llamakit arguments.
        var build: @Sendable (_ scale: Int, _ directory: String) throws -> [String]
        var testDescription: String { name }
    }

    static func write(_ bytes: [UInt8], _ path: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func gguf(kv: [(String, [UInt8])], tensors: Int = 0, tensorInfos: [UInt8] = []) -> [UInt8] {
        var out = Array("GGUF".utf8) + le32(3) + le64(UInt64(tensors)) + le64(UInt64(kv.count))
        for (key, value) in kv { out += le64(UInt64(key.utf8.count)) + Array(key.utf8) + value }
        return out + tensorInfos
    }

    /// One protobuf field: tag, varint length, bytes.
    static func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(number << 3 | 2)]
        var n = payload.count
        while n >= 0x80 { out.append(UInt8(n & 0x7F | 0x80)); n >>= 7 }
        return out + [UInt8(n)] + payload
    }

    static let rows: [Row] = [
        Row(
            name: "pickle: 1-byte EMPTY_DICTs into one list (stack cap)", maxMultiple: 32, statuses: [2, 2],
            refusal: "stack exceeds the cap of 1000000 values"
        ) { scale, dir in
            // EMPTY_DICT × n on the stack: about 80 bytes each, until the 1,000,000-value stack
            // cap stops the flood (both sizes are refused at their 1,000,000th dict).
            let n = scale * 1_000_000
            // {} "d" [] MARK {}… APPENDS SETITEM STOP
            let p: [UInt8] = [0x7D] + unicode("d") + [0x5D, 0x28] + [UInt8](repeating: 0x7D, count: n) + [0x65, 0x73, 0x2E]
            return ["inspect", try write(pth(p), dir + "/stack.pth")]
        },
        Row(name: "pickle: a list of small ints", maxMultiple: 32, statuses: [0, 0], refusal: nil) { scale, dir in
            var p: [UInt8] = [0x7D] + unicode("ints") + [0x5D]  // {} "ints" []
            for _ in 0..<(scale * 10) { p += [0x28] + [UInt8](repeating: 0, count: 100_000).flatMap { _ in [0x4B, 7] } + [0x65] }
            p += [0x73, 0x2E]
            return ["inspect", try write(pth(p), dir + "/ints.pth")]
        },
        Row(name: "pickle: memo slots", maxMultiple: 32, statuses: [0, 0], refusal: nil) { scale, dir in
            var p: [UInt8] = [0x7D]
            for i in 0..<(scale * 100_000) { p += [0x72] + le32(i) }  // LONG_BINPUT i
            p += [0x2E]
            return ["inspect", try write(pth(p), dir + "/memo.pth")]
        },
        Row(
            name: "pickle: one long key reused in every tensor name", maxMultiple: 32, statuses: [2, 2],
            refusal: "the tensor names take more than"
        ) { scale, dir in
            let p = pickleManyNames(scale * 100_000, prefixBytes: 900)
            return ["inspect", try write(pth(p), dir + "/names.pth")]
        },
        Row(name: "zip: many empty records", maxMultiple: 32, statuses: [0, 0], refusal: nil) { scale, dir in
            var records: [(String, [UInt8])] = [("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])]
            for i in 0..<(scale * 10_000) { records.append(("archive/x/\(i)", [])) }
            return ["inspect", try write(zip(records), dir + "/records.pth")]
        },
        Row(name: "gguf: an array of empty strings", maxMultiple: 32, statuses: [0, 0], refusal: nil) { scale, dir in
            let n = scale * 125_000
            let value = le32(9) + le32(8) + le64(UInt64(n)) + [UInt8](repeating: 0, count: 8 * n)
            return ["inspect", try write(gguf(kv: [("a", value)]), dir + "/strings.gguf")]
        },
        Row(name: "gguf: an array of bytes", maxMultiple: 32, statuses: [0, 0], refusal: nil) { scale, dir in
            let n = scale * 1_000_000
            let value = le32(9) + le32(0) + le64(UInt64(n)) + [UInt8](repeating: 1, count: n)
            return ["inspect", try write(gguf(kv: [("a", value)]), dir + "/bytes.gguf")]
        },
        Row(name: "gguf: many tensor infos", maxMultiple: 32, statuses: [2, 2], refusal: "past the end of the file") { scale, dir in
            let n = scale * 25_000
            var infos: [UInt8] = []
            infos.reserveCapacity(n * 40)
            for i in 0..<n {
                let name = Array(String(i).utf8)
                infos += le64(UInt64(name.count)) + name + le32(1) + le64(32) + le32(0) + le64(UInt64(i * 128))
            }
            return ["inspect", try write(gguf(kv: [], tensors: n, tensorInfos: infos), dir + "/tensors.gguf")]
        },
        Row(name: "sentencepiece: many pieces", maxMultiple: 32, statuses: [2, 2], refusal: "is not BPE") { scale, dir in
            var model: [UInt8] = []
            for i in 0..<(scale * 100_000) { model += field(1, field(1, Array(String(i, radix: 36).utf8))) }
            return ["tokenize", "--tokenizer", try write(model, dir + "/tokenizer.model"), "a"]
        },
        Row(name: "tiktoken: many ranks", maxMultiple: 32, statuses: [2, 2], refusal: "has no rank") { scale, dir in
            var text = ""
            for i in 0..<(scale * 80_000) { text += Data(String(i).utf8).base64EncodedString() + " \(i)\n" }
            return ["tokenize", "--tokenizer", try write(Array(text.utf8), dir + "/tokenizer.model"), "a"]
        },
    ]

    static func scratch() throws -> String {
        let directory = NSTemporaryDirectory() + "llamakit-caps-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(arguments: rows)
    func peakMemoryGrowsAtMostASmallMultipleOfTheInput(_ row: Row) throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var runs: [(bytes: Int, measured: Measured)] = []
        for (scale, status) in Swift.zip([1, 4], row.statuses) {
            let arguments = try row.build(scale, directory)
            let input = arguments.first { $0.hasPrefix(directory) }!
            let bytes = try FileManager.default.attributesOfItem(atPath: input)[.size] as! Int
            let measured = try Self.measure(arguments)
            #expect(!measured.signaled, "\(row.name): killed by signal \(-measured.status)")
            #expect(measured.status == status, "\(row.name) at scale \(scale): exit \(measured.status), expected \(status)")
            if let refusal = row.refusal {
                #expect(
                    measured.stderr.hasPrefix("error: ") && measured.stderr.contains(refusal), "\(row.name): \(measured.stderr.prefix(300))"
                )
            } else {
                #expect(!measured.stderr.contains("error"), "\(row.name): \(measured.stderr.prefix(300))")
            }
            #expect(measured.seconds < 60, "\(row.name): \(measured.seconds) s")
            #expect(measured.peakBytes > 0, "\(row.name): no peak RSS report in \(measured.stderr.suffix(200))")
            runs.append((bytes, measured))
        }
        let multiple = Double(runs[1].measured.peakBytes - runs[0].measured.peakBytes) / Double(runs[1].bytes - runs[0].bytes)
        print(
            "caps: \(row.name): \(runs[0].bytes) → \(runs[1].bytes) bytes, peak \(runs[0].measured.peakBytes >> 20) → \(runs[1].measured.peakBytes >> 20) MiB, \(String(format: "%.1f", multiple)) bytes per input byte; \(runs[1].measured.stderr.prefix(160))"
        )
        #expect(multiple <= row.maxMultiple, "\(row.name): \(multiple) bytes of memory per input byte")
        // And in absolute terms: a multiple of the input plus a fixed allowance (runtime, the
        // pickle object cap).
        let allowance = 256 << 20
        #expect(runs[1].measured.peakBytes <= Int(row.maxMultiple) * runs[1].bytes + allowance)
    }

    /// A few bytes that claim gigabytes: refused before anything is allocated.
    struct Claim: CustomTestStringConvertible, Sendable {
        var name: String
        var file: String
        var bytes: [UInt8]
        var arguments: @Sendable (_ path: String) -> [String]
        var status: Int32 = 2
        var message: String
        var testDescription: String { name }
    }

    static let claims: [Claim] = [
        Claim(
            name: "pickle: a string of 2 GiB", file: "a.pth",
            bytes: pth([0x7D] + unicode("b") + [0x58] + le32(Int(Int32.max)) + [0x73, 0x2E]),
            arguments: { ["inspect", $0] }, message: "exceeds the cap of 1048576"),
        Claim(
            name: "pickle: memo slot 4,294,967,295", file: "b.pth", bytes: pth([0x7D, 0x72, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]),
            arguments: { ["inspect", $0] }, status: 0, message: "peak RSS"),
        Claim(
            name: "pickle: 100,000 nested lists", file: "c.pth",
            bytes: pth(
                [0x7D] + unicode("x") + [UInt8](repeating: 0x5D, count: 100_000) + [UInt8](repeating: 0x61, count: 99_999) + [0x73, 0x2E]),
            arguments: { ["inspect", $0] }, message: "containers nest deeper than 64 levels"),
        Claim(
            name: "zip: a 2 GiB central directory claimed", file: "d.pth",
            bytes: { () -> [UInt8] in
                var archive = zip([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E])])
                archive.replaceSubrange((archive.count - 14)..<(archive.count - 6), with: [0xFF, 0xFF, 0xFF, 0xFF] + le32(0x7FFF_FFFF))
                return archive
            }(),
            arguments: { ["inspect", $0] }, message: "runs past the end records"),
        Claim(
            name: "gguf: 2^40 array elements", file: "e.gguf",
            bytes: gguf(kv: [("a", le32(9) + le32(0) + le64(1 << 40))]), arguments: { ["inspect", $0] },
            message: "declares 1099511627776 elements"),
        Claim(
            name: "gguf: 2^24 tensors in 24 bytes", file: "f.gguf", bytes: gguf(kv: [], tensors: 1 << 24),
            arguments: { ["inspect", $0] }, message: "truncated"),
        Claim(
            name: "gguf: 2^60 tensors", file: "g.gguf", bytes: gguf(kv: [], tensors: 1 << 60),
            arguments: { ["inspect", $0] }, message: "exceeds the cap of 16777216"),
        Claim(
            name: "gguf: a 2^62-byte key", file: "h.gguf", bytes: Array("GGUF".utf8) + le32(3) + le64(0) + le64(1) + le64(1 << 62),
            arguments: { ["inspect", $0] }, message: "exceeds the cap"),
        Claim(
            name: "sentencepiece: a 2^60-byte piece", file: "tokenizer.model",
            bytes: [0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], arguments: { ["tokenize", "--tokenizer", $0, "a"] },
            message: "piece declares 1152921504606846976 bytes"),
        Claim(
            name: "npy: shape (2^40,)", file: "logits.npy",
            bytes: [0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0]
                + Array(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }".padding(
                        toLength: 117, withPad: " ", startingAt: 0
                    ).utf8)
                + [0x0A],
            arguments: { ["verify", "fixtures/llama31-tiny", "--reference", $0, "--tokens", "1,2"] },
            message: "needs 4398046511104 data bytes"),
    ]

    @Test(arguments: claims)
    func hugeClaimsInTinyFilesAreRefusedWithoutAllocating(_ claim: Claim) throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Self.write(claim.bytes, directory + "/" + claim.file)
        let measured = try Self.measure(claim.arguments(path))
        #expect(measured.status == claim.status, "\(claim.name): exit \(measured.status)")
        #expect(measured.stderr.contains(claim.message), "\(claim.name): \(measured.stderr)")
        #expect(measured.peakBytes > 0 && measured.peakBytes < 64 << 20, "\(claim.name): peak \(measured.peakBytes >> 20) MiB")
        #expect(measured.seconds < 10)
        print("claims: \(claim.name): peak \(measured.peakBytes >> 20) MiB, \(measured.stderr.split(separator: "\n").first ?? "")")
    }
}
