import Foundation
import Testing

/// Meta's big-model layouts through the real binary (`fixtures/make_layout_fixtures.py`): each
/// set, read directly and converted, computes what Meta's Transformer computes on its merged
/// weights; each broken set is refused with exit 2, one line naming file and tensor, nothing written.
@Suite struct ShardLayoutCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    static let sets = ["llama3-mp16-kvdup", "llama3-mp4-tiled", "llama3-fp8-mp2"]

    /// The set itself and its f32 GGUF pass the exact gate; its Q8_0 GGUF passes Q8_0's.
    @Test(arguments: sets)
    func aSetAndItsConversionsMatchMetasLogits(_ name: String) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reference = "fixtures/\(name)/reference/reference.pth"
        let direct = try Self.run(["verify", "fixtures/" + name, "--reference", reference])
        #expect(
            direct.status == 0 && direct.stdout.contains("gate (exact)") && direct.stdout.hasSuffix("PASS\n"),
            "\(direct.stdout)\(direct.stderr)")
        for (type, gate) in [("f32", "exact"), ("q8_0", "q8_0")] {
            let output = "\(directory)/\(type).gguf"
            let converted = try Self.run(["convert", "fixtures/" + name, "-o", output, "--type", type])
            #expect(converted.status == 0, "\(converted.stderr)")
            let verified = try Self.run(["verify", output, "--reference", reference])
            #expect(
                verified.status == 0 && verified.stdout.contains("gate (\(gate))") && verified.stdout.hasSuffix("PASS\n"),
                "\(type): \(verified.stdout)\(verified.stderr)")
        }
    }

    /// Repeated KV heads are written once: the GGUF has 8 KV heads where params.json declares 16.
    @Test func theMP16SetIsWrittenWithItsTrueKVHeadCount() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let converted = try Self.run(["convert", "fixtures/llama3-mp16-kvdup", "-o", directory + "/m.gguf"])
        #expect(converted.status == 0)
        #expect(converted.stdout.contains("KV heads: each run of 2 shards holds the same KV head"))
        let inspect = try Self.run(["inspect", directory + "/m.gguf"])
        #expect(inspect.stdout.contains("llama.attention.head_count_kv           u32     8"), "\(inspect.stdout)")
        let attnK = inspect.stdout.split(separator: "\n").first { $0.hasPrefix("blk.0.attn_k.weight ") }
        #expect(attnK?.contains("[32, 64]") == true, "8 heads × 4 rows, not 16 × 4: \(String(describing: attnK))")
    }

    /// FP8 weights are listed as stored, with their scale files; a bf16 output rounds value ×
    /// scale (bf16 keeps 8 significant bits), which costs far less than Q8_0 does.
    @Test func fp8IsShownAsStoredAndBF16RoundsIt() throws {
        let inspect = try Self.run(["inspect", "fixtures/llama3-fp8-mp2"])
        #expect(inspect.stdout.contains("FP8: 6 feed-forward weights stored f8_e4m3fn"))
        #expect(inspect.stdout.contains("fp8_scales_0.pt, fp8_scales_1.pt"))
        #expect(inspect.stdout.contains("layers.1.feed_forward.w1.weight  f8_e4m3fn  [224, 64]"), "\(inspect.stdout)")
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["convert", "fixtures/llama3-fp8-mp2", "-o", directory + "/b.gguf"]).status == 0)
        let verified = try Self.run([
            "verify", directory + "/b.gguf", "--reference", "fixtures/llama3-fp8-mp2/reference/reference.pth", "--json",
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any])
        #expect(try #require(object["mean_kld"] as? Double) < 1e-5)
        #expect(try #require(object["relative_max_diff"] as? Double) > 1e-4, "bf16 is not lossless for FP8 weights")
    }

    static let broken: [(name: String, fixture: String, file: String, replacement: String?, message: String)] = [
        (
            "a shard missing at the end", "llama3-mp16-kvdup", "consolidated.15.pth", nil,
            "means 16 shards, but the set has 15: consolidated.15.pth and later are missing"
        ),
        (
            "a shard of another model", "llama3-tiny-mp2", "consolidated.01.pth", "layouts-bad/foreign-consolidated.01.pth",
            "consolidated.01.pth: tensor 'norm.weight': replicated tensor differs"
        ),
        (
            "KV copies that differ", "llama3-mp16-kvdup", "consolidated.03.pth", "layouts-bad/kvdiffer-consolidated.03.pth",
            "consolidated.03.pth: tensor 'layers.1.attention.wk.weight': this shard's KV heads should repeat consolidated.02.pth's"
        ),
        (
            "an FP8 set without a scales file", "llama3-fp8-mp2", "fp8_scales_1.pt", nil,
            "consolidated.01.pth: tensor 'layers.1.feed_forward.w1.weight': f8_e4m3fn tensor without its scale"
        ),
        (
            "a scale missing from its file", "llama3-fp8-mp2", "fp8_scales_1.pt", "layouts-bad/fp8_scales_1-missing-key.pt",
            "tensor 'layers.2.feed_forward.w2.weight': f8_e4m3fn tensor without its scale: fp8_scales_1.pt holds no '2_feed_forward.w2_1'"
        ),
    ]

    @Test(arguments: broken)
    func aBrokenSetIsRefusedWithNothingWritten(_ row: (name: String, fixture: String, file: String, replacement: String?, message: String))
        throws
    {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let set = directory + "/set"
        try FileManager.default.copyItem(atPath: "fixtures/" + row.fixture, toPath: set)
        try FileManager.default.removeItem(atPath: set + "/" + row.file)
        if let replacement = row.replacement {
            try FileManager.default.copyItem(atPath: "fixtures/" + replacement, toPath: set + "/" + row.file)
        }
        for command in [
            ["convert", set, "-o", directory + "/out.gguf", "--type", "q8_0"],
            ["verify", set, "--reference", "fixtures/\(row.fixture)/reference/reference.pth"],
        ] {
            if command[0] == "verify" && !FileManager.default.fileExists(atPath: "fixtures/\(row.fixture)/reference/reference.pth") {
                continue
            }
            let result = try Self.run(command)
            #expect(result.status == 2, "\(row.name) \(command[0]): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains(row.message), "\(row.name) \(command[0]): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["set"], "nothing written")
    }
}
