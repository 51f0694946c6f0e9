import Foundation
import Testing

/// `llamakit verify` and `llamakit generate` through the real binary.
@Suite struct VerifyCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }

    @Test func bf16CheckpointPassesAgainstMetasLogitsFromPthAndNpy() throws {
        for reference in ["reference.pth", "logits.npy"] {
            let result = try Self.run([
                "verify", "fixtures/llama31-tiny", "--reference", "fixtures/llama31-tiny/reference/" + reference, "--json",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(
                Array(object.keys).sorted()
                    == [
                        "gate", "max_abs_diff", "max_kld", "mean_abs_diff", "mean_kld", "p99_kld", "pass", "positions", "ppl_model",
                        "ppl_reference", "relative_max_diff", "top1_agreement",
                    ])
            #expect(object["pass"] as? Bool == true)
            #expect(object["positions"] as? Int == 300)
            #expect(try #require(object["max_abs_diff"] as? Double) <= 1e-4)
            #expect(object["top1_agreement"] as? Double == 1)
        }
    }

    @Test func convertedQ8_0PassesItsGateAndMatchesTheCheckpointWithAgainst() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/demo-q8_0.gguf"
        #expect(try Self.run(["convert", "fixtures/demo", "-o", output, "--type", "q8_0"]).status == 0)
        let verified = try Self.run(["verify", output, "--reference", "fixtures/demo/reference/reference.pth"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("gate (q8_0)"))
        #expect(verified.stdout.hasSuffix("PASS\n"))
        // The reference's first 12 tokens: "<|begin_of_text|>Anna liked the blue river…".
        let tokens = "447,404,405,442,259,426,425,287,259,325,262,307"
        let against = try Self.run(["verify", output, "--against", "fixtures/demo", "--tokens", tokens, "--json"])
        #expect(against.status == 0, "\(against.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(against.stdout.utf8)) as? [String: Any])
        #expect(object["positions"] as? Int == 12)
        #expect(try #require(object["mean_kld"] as? Double) < 2e-3)
        // The same GGUF at f32 is exact: bf16 widened to f32 loses nothing.
        let f32 = directory + "/demo-f32.gguf"
        #expect(try Self.run(["convert", "fixtures/demo", "-o", f32, "--type", "f32"]).status == 0)
        let exact = try Self.run(["verify", f32, "--reference", "fixtures/demo/reference/logits.npy"])
        #expect(exact.status == 0, "\(exact.stdout)\(exact.stderr)")
        #expect(exact.stdout.contains("gate (exact)"))
    }

    /// A params.json with the wrong theta (the commonest silent conversion bug) must FAIL, exit 1.
    @Test func wrongThetaFailsWithExitOne() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in ["consolidated.00.pth", "tokenizer.model"] {
            try FileManager.default.copyItem(atPath: "fixtures/llama31-tiny/" + file, toPath: directory + "/" + file)
        }
        let params = try String(contentsOfFile: "fixtures/llama31-tiny/params.json", encoding: .utf8)
        try params.replacingOccurrences(of: "500000.0", with: "10000.0").write(
            toFile: directory + "/params.json", atomically: true, encoding: .utf8)
        let result = try Self.run(["verify", directory, "--reference", "fixtures/llama31-tiny/reference/reference.pth"])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("FAIL: max |Δlogit| / logit range"))
        // A looser gate given by flag passes the same run: gates are overridable.
        let loose = try Self.run([
            "verify", directory, "--reference", "fixtures/llama31-tiny/reference/reference.pth", "--max-relative-diff", "10", "--min-top1",
            "0",
        ])
        #expect(loose.status == 0)
        #expect(loose.stdout.contains("gate (custom)"))
    }

    static func writeNpy(_ path: String, descr: String, shape: [Int], floats: [Float]) throws {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func badInputExitsTwoWithOneMessage() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.writeNpy(
            directory + "/nan.npy", descr: "<f4", shape: [2, 768],
            floats: [Float](repeating: 0, count: 767) + [.nan] + [Float](repeating: 0, count: 768))
        try Self.writeNpy(directory + "/short.npy", descr: "<f4", shape: [2, 768], floats: [Float](repeating: 0, count: 1000))
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/vocab.gguf", "--vocab-only"]).status == 0)
        let cases: [(arguments: [String], message: String)] = [
            (
                ["verify", "fixtures/llama3-tiny", "--reference", "fixtures/llama2-tiny/reference/reference.pth"],
                "the reference has 1000 logits per position, the model's vocabulary 768"
            ),
            (
                ["verify", "fixtures/llama3-tiny", "--reference", "fixtures/llama3-tiny/reference/logits.npy", "--tokens", "1,2,3"],
                "the reference has 40 positions of logits but 3 tokens"
            ),
            (
                ["verify", "fixtures/llama3-tiny", "--reference", directory + "/nan.npy", "--tokens", "1,2"],
                "the reference holds nan at position 0, vocabulary entry 767: logits must be finite"
            ),
            (
                ["verify", "fixtures/llama3-tiny", "--reference", directory + "/short.npy", "--tokens", "1,2"],
                "shape [2, 768] of <f4 needs 6144 data bytes, the file holds 4000"
            ),
            (
                ["verify", "fixtures/llama3-tiny", "--against", "fixtures/llama3-tiny", "--tokens", "1,768"],
                "token id 768 at position 1 is outside the vocabulary 0..<768"
            ),
            (
                ["verify", directory + "/vocab.gguf", "--against", "fixtures/demo", "--tokens", "1,2"],
                "tensor 'token_embd.weight': missing"
            ),
            (
                ["verify", "fixtures/llama3-tiny", "--reference", "fixtures/llama3-tiny/params.json", "--tokens", "1"],
                "not a PyTorch zip checkpoint"
            ),
            (["generate", "fixtures/llama3-tiny", "--prompt-tokens", "5,9999"], "token id 9999 at position 1 is outside the vocabulary"),
            (["generate", directory + "/vocab.gguf", "--prompt", "hi"], "missing"),
        ]
        for row in cases {
            let result = try Self.run(row.arguments)
            #expect(result.status == 2, "\(row.arguments): \(result.stdout)\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains(row.message), "\(row.arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        for usage in [
            ["verify", "fixtures/demo"], ["generate", "fixtures/demo"], ["generate", "fixtures/demo", "--prompt", "a", "--top-p", "0"],
        ] {
            #expect(try Self.run(usage).status == 2, "\(usage)")
        }
    }

    @Test func greedyGenerationIsDeterministicAndTheSameFromPthAndGGUF() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Self.run(["convert", "fixtures/demo", "-o", directory + "/demo.gguf"]).status == 0)
        var outputs: [[String: Any]] = []
        for model in ["fixtures/demo", directory + "/demo.gguf"] {
            let result = try Self.run(["generate", model, "--prompt", "The old dog", "-n", "24", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            outputs.append(try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]))
        }
        let ids = try #require(outputs[0]["ids"] as? [Int])
        #expect(ids.count == 24)
        #expect(outputs[1]["ids"] as? [Int] == ids)
        let text = try #require(outputs[0]["text"] as? String)
        // The demo model learned its grammar: sentences end the way the training text's do.
        #expect(text.contains(" and ") && text.contains("."), "\(text)")
        #expect(try #require(outputs[0]["decode_tokens_per_s"] as? Double) > 0)
        // Streaming prints the prompt, then the same text.
        let streamed = try Self.run(["generate", "fixtures/demo", "--prompt", "The old dog", "-n", "24"])
        #expect(streamed.stdout == "The old dog" + text + "\n")
        // Sampling with a seed repeats itself.
        var sampled: [String] = []
        for seed in ["7", "7", "8"] {
            let result = try Self.run([
                "generate", "fixtures/demo", "--prompt", "Anna", "--temperature", "1.5", "--top-p", "1", "--seed", seed, "-n", "40",
            ])
            #expect(result.status == 0)
            sampled.append(result.stdout)
        }
        #expect(sampled[0] == sampled[1])
        #expect(sampled[0] != sampled[2])
    }
}
