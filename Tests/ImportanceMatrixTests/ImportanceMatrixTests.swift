import BinaryIO
import Foundation
import GGUF
import ImportanceMatrix
import Testing

/// Against `fixtures/imatrix/`, written as llama.cpp's imatrix writers lay files out by
/// make_imatrix_fixtures.py, which also computes (from llama.cpp's reader rules, in numpy float32)
/// the weights llama-quantize would hand its quantizer: `expected.json`.
@Suite struct ImportanceMatrixTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/imatrix")

    struct Expected: Decodable {
        struct Entry: Decodable {
            var values: Int
            var experts: Int
            var weights: String
        }
        struct Key: Decodable {
            var key: String
            var string: String?
            var u32: UInt32?
        }
        var format: String
        var datasets: [String]
        var chunk_count: Int?
        var chunk_size: Int?
        var entries: [String: Entry]
        var gguf_keys: [Key]
    }

    static let expected: [String: Expected] = {
        let data = try! Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode([String: Expected].self, from: data)
    }()

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    static func hex(_ values: [Float]) -> String {
        values.map { value in
            withUnsafeBytes(of: value.bitPattern.littleEndian) { $0.map { String($0, radix: 16).leftPadded() }.joined() }
        }.joined()
    }

    // MARK: - What llama-quantize computes

    @Test(arguments: expected.keys.sorted())
    func weightsAreWhatLlamaQuantizeComputes(_ name: String) throws {
        let expected = try #require(Self.expected[name])
        let imatrix = try ImportanceMatrix.load(path: Self.path(name))
        #expect(imatrix.format.rawValue == expected.format)
        #expect(imatrix.datasets == expected.datasets)
        #expect(imatrix.chunkCount == expected.chunk_count)
        #expect(imatrix.chunkSize == expected.chunk_size)
        #expect(imatrix.tensorNames == expected.entries.keys.sorted())
        for (tensor, entry) in expected.entries {
            let weights = try #require(
                try imatrix.weights(for: tensor, columns: entry.values / entry.experts, experts: entry.experts), "\(tensor)")
            #expect(weights.count == entry.values, "\(tensor)")
            #expect(Self.hex(weights) == entry.weights, "\(name): \(tensor)")
        }
        let keys = imatrix.ggufKeys
        #expect(keys.map(\.0) == expected.gguf_keys.map(\.key))
        for ((key, value), want) in zip(keys, expected.gguf_keys) {
            if let text = want.string {
                #expect(value == .string(text == "$PATH" ? Self.path(name) : text), "\(key)")
            } else {
                #expect(value == .u32(try #require(want.u32)), "\(key)")
            }
        }
    }

    /// The two formats written from one collector state give the same weights up to the legacy
    /// format's extra rounding ((sum / count) × ncall, then ÷ ncall): a check on the fixture
    /// script as much as on the reader. The entry with no data exists only in the GGUF file.
    @Test func legacyAndGGUFAgree() throws {
        let legacy = try ImportanceMatrix.load(path: Self.path("demo-shaped.dat"))
        let gguf = try ImportanceMatrix.load(path: Self.path("demo-shaped.gguf"))
        #expect(Set(gguf.tensorNames).subtracting(legacy.tensorNames) == ["blk.1.attn_v.weight"])
        let shapes = try #require(Self.expected["demo-shaped.gguf"]).entries
        for tensor in legacy.tensorNames {
            let shape = try #require(shapes[tensor])
            let a = try #require(try legacy.weights(for: tensor, columns: shape.values / shape.experts, experts: shape.experts))
            let b = try #require(try gguf.weights(for: tensor, columns: shape.values / shape.experts, experts: shape.experts))
            for (x, y) in zip(a, b) { #expect(abs(x - y) <= 2 * y.ulp, "\(tensor): \(x) vs \(y)") }
        }
        #expect(try gguf.weights(for: "blk.1.attn_v.weight", columns: 8) == [Float](repeating: 1, count: 8))
    }

    // MARK: - Lookups

    @Test func aTensorWithoutAnEntryHasNoWeights() throws {
        for name in ["demo-shaped.dat", "demo-shaped.gguf"] {
            let imatrix = try ImportanceMatrix.load(path: Self.path(name))
            #expect(try imatrix.weights(for: "blk.7.attn_q.weight", columns: 8) == nil)
            #expect(try imatrix.weights(for: "output.weight", columns: 8) == nil)
            // Names are exact: no prefix, suffix or in_sum2 lookups.
            #expect(try imatrix.weights(for: "blk.0.attn_q", columns: 8) == nil)
            #expect(try imatrix.weights(for: "blk.0.attn_q.weight.in_sum2", columns: 8) == nil)
        }
    }

    static let mismatches: [(file: String, tensor: String, columns: Int, experts: Int, found: String)] = [
        ("demo-shaped.dat", "blk.0.attn_q.weight", 9, 1, "has 8 values; expected 9 columns × 1 expert"),
        ("demo-shaped.gguf", "blk.0.attn_q.weight", 4, 1, "has 8 values; expected 4 columns × 1 expert"),
        ("demo-shaped.gguf", "blk.0.ffn_up_exps.weight", 8, 1, "has 24 values; expected 8 columns × 1 expert"),
        ("demo-shaped.gguf", "blk.0.ffn_up_exps.weight", 8, 2, "has 24 values; expected 8 columns × 2 experts"),
        ("demo-shaped.dat", "blk.0.ffn_down.weight", 4, 2, "has 16 values; expected 4 columns × 2 experts"),
    ]

    @Test(arguments: mismatches)
    func aLengthMismatchIsRefusedNamingTheTensor(_ row: (file: String, tensor: String, columns: Int, experts: Int, found: String)) throws {
        let imatrix = try ImportanceMatrix.load(path: Self.path(row.file))
        let error = #expect(throws: InputError.self) {
            _ = try imatrix.weights(for: row.tensor, columns: row.columns, experts: row.experts)
        }
        #expect(error?.kind == .mismatch)
        #expect(error?.location == .tensor(row.tensor))
        #expect(error?.file == Self.path(row.file))
        #expect(error?.description.contains(row.found) == true, "\(error?.description ?? "none")")
    }

    /// llama-quantize quantizes the embedding table without its entry when the length disagrees.
    @Test func aTokenEmbeddingOfAnotherLengthIsIgnored() throws {
        for name in ["demo-shaped.dat", "demo-shaped.gguf"] {
            let imatrix = try ImportanceMatrix.load(path: Self.path(name))
            #expect(try imatrix.weights(for: "token_embd.weight", columns: 4)?.count == 4)
            #expect(try imatrix.weights(for: "token_embd.weight", columns: 64) == nil)
        }
    }

    /// `quantize.imatrix.file` holds at most 127 bytes of the path, cut before a character that
    /// would straddle the limit (llama.cpp's `strncpy` would cut inside it).
    @Test func longPathsAreCutToWholeCharactersWithin127Bytes() throws {
        let directory = NSTemporaryDirectory() + "llamakit-imatrix-\(UUID().uuidString)-"
        // Pad so that byte 127 falls inside a two-byte 'é'.
        let pad = String(repeating: "a", count: max(0, 126 - directory.utf8.count))
        let folder = directory + pad + String(repeating: "é", count: 20)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/x.gguf"
        try FileManager.default.copyItem(atPath: Self.path("demo-shaped.gguf"), toPath: path)
        let keys = try ImportanceMatrix.load(path: path).ggufKeys
        guard case .string(let recorded)? = keys.first(where: { $0.0 == "quantize.imatrix.file" })?.1 else {
            Issue.record("no quantize.imatrix.file")
            return
        }
        #expect(path.utf8.count > 127)
        #expect(recorded.utf8.count == 126)
        #expect(path.hasPrefix(recorded))
    }

    // MARK: - Hostile input

    /// Every hostile fixture, the error kind it must raise and a fragment of the message.
    static let hostile: [(file: String, kind: InputError.Kind, message: String)] = [
        // Legacy .dat
        ("truncated-values.dat", .truncated, "'blk.0.attn_k.weight' declares 8 values (32 bytes), 10 remain"),
        ("truncated-trailer.dat", .truncated, "chunk count needs 4 bytes, 2 remain"),
        ("short-file.dat", .truncated, "entry count needs 4 bytes, 2 remain"),
        ("zero-entries.dat", .missing, "entry count is 0; expected at least 1"),
        ("negative-entry-count.dat", .outOfRange, "entry count is -1; expected at least 1"),
        ("huge-entry-count.dat", .overLimit, "entry count 2147483647 exceeds the cap of 1048576"),
        ("entries-past-end.dat", .truncated, "name length needs 4 bytes, 0 remain"),
        ("negative-name-length.dat", .outOfRange, "name length is -5; expected 0 or more"),
        ("huge-name-length.dat", .overLimit, "name length 2147483647 exceeds the cap of 1024 bytes"),
        ("name-past-end.dat", .truncated, "entry name needs 200 bytes, 19 remain"),
        ("empty-name.dat", .malformed, "empty entry name"),
        ("non-utf8-name.dat", .malformed, "entry name is not NUL-free UTF-8"),
        ("nul-in-name.dat", .malformed, "entry name is not NUL-free UTF-8"),
        ("duplicate-entry.dat", .mismatch, "tensor 'blk.0.attn_q.weight': duplicate entry"),
        ("negative-ncall.dat", .outOfRange, "ncall of 'blk.0.attn_q.weight' is -3; expected 0 or more"),
        ("zero-values.dat", .outOfRange, "'blk.0.attn_q.weight' has 0 values; expected at least 1"),
        ("huge-value-count.dat", .truncated, "declares 2147483647 values"),
        ("nan-value.dat", .notAllowed, "tensor 'blk.0.attn_q.weight': importance 1 is nan (stored value / ncall 2)"),
        ("inf-value.dat", .notAllowed, "importance 0 is inf (stored value, ncall 0)"),
        ("negative-chunk-count.dat", .outOfRange, "chunk count is -2"),
        ("negative-dataset-length.dat", .outOfRange, "dataset name length is -1"),
        ("dataset-past-end.dat", .truncated, "dataset name needs 100 bytes, 3 remain"),
        ("non-utf8-dataset.dat", .malformed, "dataset name is not valid UTF-8"),
        ("trailing-bytes.dat", .malformed, "2 bytes after the dataset name"),
        // GGUF
        ("truncated.gguf", .truncated, "truncated"),
        ("no-tensors.gguf", .missing, "no tensors"),
        ("no-pairs.gguf", .missing, "no <tensor>.in_sum2 / <tensor>.counts pairs among 1 tensors"),
        ("missing-counts.gguf", .missing, "tensor 'blk.0.attn_q.weight.counts': no such tensor"),
        ("missing-sums.gguf", .missing, "tensor 'blk.0.attn_q.weight.in_sum2': no such tensor"),
        ("empty-base-name.gguf", .malformed, "no tensor name before"),
        ("f16-sums.gguf", .unsupported, "tensor 'blk.0.attn_q.weight.in_sum2': type f16; expected f32"),
        ("uneven-shapes.gguf", .mismatch, "7 sums for 2 counts"),
        ("empty-counts.gguf", .outOfRange, "8 sums and 0 counts"),
        ("nan-count.gguf", .notAllowed, "count 0 is nan"),
        ("negative-count.gguf", .outOfRange, "count 0 is -3.0"),
        ("huge-count.gguf", .outOfRange, "count 0 is 1e+30"),
        ("inf-sum.gguf", .notAllowed, "importance 0 is inf (in_sum2 / counts)"),
        ("no-metadata.gguf", .missing, "key 'imatrix.datasets': missing"),
        ("no-chunk-size.gguf", .missing, "key 'imatrix.chunk_size': missing"),
        ("chunk-count-i32.gguf", .mismatch, "key 'imatrix.chunk_count': expected a u32, found i32"),
        ("chunk-count-too-big.gguf", .outOfRange, "key 'imatrix.chunk_count': 2147483648 exceeds 2147483647"),
        ("datasets-not-strings.gguf", .mismatch, "key 'imatrix.datasets': expected an array of strings, found array"),
        ("datasets-string.gguf", .mismatch, "key 'imatrix.datasets': expected an array of strings, found string"),
    ]

    @Test(arguments: hostile)
    func hostileFilesAreRefused(_ row: (file: String, kind: InputError.Kind, message: String)) {
        let path = Self.path("hostile/" + row.file)
        let error = #expect(throws: InputError.self) { _ = try ImportanceMatrix.load(path: path) }
        #expect(error?.kind == row.kind, "\(row.file): \(error?.description ?? "none")")
        #expect(error?.file == path)
        #expect(error?.description.contains(row.message) == true, "\(row.file): \(error?.description ?? "none")")
    }

    /// The table covers every hostile fixture, and nothing else lives there.
    @Test func everyHostileFixtureIsInTheTable() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.path("hostile")).sorted()
        #expect(files == Self.hostile.map(\.file).sorted())
    }

    static func withFile(_ bytes: [UInt8], _ body: (String) throws -> Void) rethrows {
        let path = NSTemporaryDirectory() + "llamakit-imatrix-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    /// A legacy file cut anywhere is refused, except where an older writer stopped: after the
    /// entries (no trailer) or after the chunk count (no dataset name).
    @Test func everyLegacyTruncationIsRefusedOrAnOlderLayout() throws {
        let bytes = Array(try Data(contentsOf: Self.root.appendingPathComponent("demo-shaped.dat")))
        let dataset = "fixtures/demo/TRAINING.txt".utf8.count
        let noTrailer = bytes.count - dataset - 8
        var accepted: [Int] = []
        for cut in 0..<bytes.count {
            try Self.withFile(Array(bytes[..<cut])) { path in
                do {
                    let imatrix = try ImportanceMatrix.load(path: path)
                    accepted.append(cut)
                    #expect(imatrix.tensorNames.count == 5)
                    #expect(imatrix.chunkCount == (cut == noTrailer ? nil : 2))
                } catch is InputError {}
            }
        }
        #expect(accepted == [noTrailer, noTrailer + 4])
    }

    /// Up to the end of the last tensor's data; the alignment padding after it carries nothing.
    /// (The smaller GGUF fixture: each cut costs a file, and GGUFTests cuts the parser's own.)
    @Test func everyGGUFTruncationIsRefused() throws {
        let bytes = Array(try Data(contentsOf: Self.root.appendingPathComponent("zero-counts.gguf")))
        let file = try GGUFFile(path: Self.path("zero-counts.gguf"))
        let last = try #require(file.tensors.last)
        let dataEnd = file.dataOffset + last.offset + last.byteCount
        #expect(dataEnd > bytes.count - file.alignment)
        for cut in 0..<dataEnd {
            Self.withFile(Array(bytes[..<cut])) { path in
                #expect(throws: InputError.self, "cut at \(cut)") { _ = try ImportanceMatrix.load(path: path) }
            }
        }
    }

    @Test func aMissingFileIsAnIOError() {
        let error = #expect(throws: InputError.self) { _ = try ImportanceMatrix.load(path: Self.path("no-such.dat")) }
        #expect(error?.kind == .io)
    }
}

extension String {
    fileprivate func leftPadded() -> String { count == 1 ? "0" + self : self }
}
