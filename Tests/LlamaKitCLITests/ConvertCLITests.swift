import Foundation
import Testing

/// `llamakit convert`, `quantize` and `inspect` of GGUF through the real binary.
@Suite struct ConvertCLITests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "llamakit-cli-convert-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func convertQuantizeAndInspect() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let converted = try InspectCLITests.run(["convert", "fixtures/llama31-tiny", "-o", directory + "/m.gguf"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(
            converted.stdout
                == "wrote \(directory)/m.gguf: 22 tensors, bf16, Llama 3.1, rope_freqs with scaling factor 8.0\n  tensor types: bf16 × 16, f32 × 6\n"
        )
        let quantized = try InspectCLITests.run(["quantize", directory + "/m.gguf", directory + "/q.gguf", "--type", "q4_0", "--pure"])
        #expect(quantized.status == 0, "\(quantized.stderr)")
        let inspected = try InspectCLITests.run(["inspect", directory + "/q.gguf", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        #expect(object["format"] as? String == "gguf")
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.first { $0["name"] as? String == "blk.0.attn_q.weight" }?["dtype"] as? String == "q4_0")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["general.file_type"] as? Int == 2)
        #expect((metadata["tokenizer.ggml.tokens"] as? [String: Any])?["count"] as? Int == 768)
        #expect(object["type_counts"] as? [String: Int] == ["q4_0": 16, "f32": 6])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["m.gguf", "q.gguf"])
    }

    static let bad: [(arguments: [String], message: String)] = [
        (["convert", "fixtures/llama31-tiny", "-o", "/nonexistent-dir/m.gguf"], "cannot create the output next to it"),
        (["convert", "fixtures/torch", "-o", "/tmp/x.gguf"], "no consolidated.NN.pth files"),
        (["quantize", "fixtures/llama3-tiny/params.json", "/tmp/y.gguf", "--type", "q8_0"], "not a GGUF file: bad magic"),
        (["quantize", "a.gguf", "a.gguf", "--type", "q8_0"], "the output must be a different file"),
        (
            ["convert", "fixtures/llama3-tiny", "-o", "/tmp/hf-x", "--to", "hf", "--type", "q8_0"],
            "--to hf writes bf16, f16 or f32 weights"
        ),
        (
            ["convert", "fixtures/llama3-tiny", "-o", "/tmp/x.gguf", "--max-shard-size", "1GB"],
            "--max-shard-size is for --to hf"
        ),
        (["convert", "fixtures/llama3-tiny", "-o", "/tmp/hf-x", "--to", "hf", "--max-shard-size", "lots"], "--max-shard-size"),
        (["convert", "fixtures/llama3-tiny", "-o", "/dev/null/hf", "--to", "hf"], "cannot create the directory"),
    ]

    @Test(arguments: bad)
    func badInputExitsTwo(_ row: (arguments: [String], message: String)) throws {
        let run = try InspectCLITests.run(row.arguments)
        #expect(run.status == 2)
        #expect(run.stderr.contains(row.message), "\(run.stderr)")
    }

    @Test func vocabOnlyHasTheTokenizerAndNoTensors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try InspectCLITests.run(["convert", "fixtures/llama3-tiny", "-o", directory + "/v.gguf", "--vocab-only"])
        #expect(run.status == 0, "\(run.stderr)")
        let inspected = try InspectCLITests.run(["inspect", directory + "/v.gguf", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any])
        #expect((object["tensors"] as? [Any])?.isEmpty == true)
        #expect(((object["metadata"] as? [String: Any])?["tokenizer.ggml.tokens"] as? [String: Any])?["count"] as? Int == 768)
    }

    @Test func aMissingTokenizerNeedsConsent() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["consolidated.00.pth", "params.json"] {
            try FileManager.default.copyItem(
                atPath: InspectCLITests.repo.appendingPathComponent("fixtures/llama3-tiny/\(name)").path, toPath: directory + "/" + name)
        }
        let refused = try InspectCLITests.run(["convert", directory, "-o", directory + "/m.gguf"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("use --no-tokenizer"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/m.gguf"))
        let accepted = try InspectCLITests.run(["convert", directory, "-o", directory + "/m.gguf", "--no-tokenizer"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
    }

    /// Meta → HF → GGUF on the command line, checked against Meta's logits at each step.
    @Test func exportsAnHFDirectoryThatVerifiesAndConverts() throws {
        let directory = NSTemporaryDirectory() + "llamakit-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let export = try InspectCLITests.run([
            "convert", "fixtures/llama31-tiny", "-o", directory + "/hf", "--to", "hf", "--max-shard-size", "200KB",
        ])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("21 tensors, bf16, Llama 3.1, 3 shards"), "\(export.stdout)")
        let reference = "fixtures/llama31-tiny/reference/reference.pth"
        let verify = try InspectCLITests.run(["verify", directory + "/hf", "--reference", reference])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let gguf = try InspectCLITests.run(["convert", directory + "/hf", "-o", directory + "/m.gguf", "--no-tokenizer", "--type", "q8_0"])
        #expect(gguf.status == 0, "\(gguf.stderr)")
        #expect(try InspectCLITests.run(["verify", directory + "/m.gguf", "--reference", reference]).status == 0)
    }
}
