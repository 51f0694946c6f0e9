import Foundation
import Testing

/// `llamakit perplexity`, and `--text` for `verify` and `generate`, through the real binary.
@Suite struct PerplexityCLITests {
    static func run(_ arguments: [String]) throws -> InspectCLITests.Run { try InspectCLITests.run(arguments) }
    static let text = "fixtures/text/grammar.txt"

    /// The golden perplexity of Meta's model over the first two chunks (fixtures/perplexity/golden.json).
    static func goldenTwoChunkPPL(_ model: String) throws -> Double {
        let url = InspectCLITests.repo.appendingPathComponent("fixtures/perplexity/golden.json")
        let golden = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let run = try #require(golden[model] as? [String: Any])
        return try #require((run["chunk_ppl"] as? [Double])?[1])
    }

    @Test func perplexityOfTwoChunksEqualsMetasModel() throws {
        let result = try Self.run(["perplexity", "fixtures/demo", "--text-file", Self.text, "--ctx", "64", "--chunks", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["chunks"] as? Int == 2 && object["scored"] as? Int == 62 && object["ctx"] as? Int == 64)
        let ppl = try #require(object["ppl"] as? Double)
        let golden = try Self.goldenTwoChunkPPL("demo")
        #expect(abs(ppl - golden) <= 1e-4 * golden, "\(ppl) vs \(golden)")
    }

    @Test func savedBaseGivesKLDStatisticsInLlamaCppsTerms() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = directory + "/demo.logits"
        let saved = try Self.run([
            "perplexity", "fixtures/demo", "--text-file", Self.text, "--ctx", "64", "--chunks", "2", "--save-logits", base, "--no-sync",
        ])
        #expect(saved.status == 0, "\(saved.stderr)")
        #expect(saved.stderr.contains("saved the log-probabilities of 62 positions to \(base)"))
        // 20 header bytes, 128 tokens, 62 rows of 2 × (704 + 4) bytes.
        let size = try FileManager.default.attributesOfItem(atPath: base)[.size] as? Int
        #expect(size == 20 + 4 * 128 + 62 * 2 * 708)
        let compared = try Self.run(["perplexity", "fixtures/k256", "--kl-base", base])
        #expect(compared.status == 0, "\(compared.stderr)")
        for line in [
            "====== Perplexity statistics ======", "Mean PPL(Q)                   :", "Mean    KLD:", "99.9%   KLD:", " 0.1%   KLD:",
            "Median  Δp:", "RMS Δp    :", "Same top p:",
        ] {
            #expect(compared.stdout.contains(line), "missing \(line)")
        }
    }

    @Test(arguments: [
        (["--text-file", "fixtures/demo/params.json", "--ctx", "512"], "needs at least 1024"),
        (["--text-file", "/nonexistent/text.txt"], "/nonexistent/text.txt"),
        (["--text", ""], "the text is empty"),
        (["--kl-base", "fixtures/demo/params.json"], "not a logits file"),
    ])
    func badInputExitsTwoWithOneLine(_ extra: [String], _ message: String) throws {
        let result = try Self.run(["perplexity", "fixtures/demo"] + extra)
        #expect(result.status == 2)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty)
    }

    @Test func aBaseFromAnotherModelOrTextIsRefused() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = directory + "/demo.logits"
        let text = directory + "/other.txt"
        try String(repeating: "The king watched the quiet forest at night and went home. ", count: 40).write(
            toFile: text, atomically: true, encoding: .utf8)
        #expect(
            try Self.run(["perplexity", "fixtures/demo", "--text-file", Self.text, "--ctx", "16", "--chunks", "1", "--save-logits", base])
                .status == 0)
        let otherModel = try Self.run(["perplexity", "fixtures/llama3-tiny", "--kl-base", base])
        #expect(otherModel.status == 2 && otherModel.stderr.contains("vocabulary of 703, the model"), "\(otherModel.stderr)")
        let otherText = try Self.run(["perplexity", "fixtures/k256", "--kl-base", base, "--text-file", text])
        #expect(
            otherText.status == 2 && otherText.stderr.contains("computed on other text: token 3 is 432 there, 396 here"),
            "\(otherText.stderr)")
        let otherContext = try Self.run(["perplexity", "fixtures/k256", "--kl-base", base, "--ctx", "32"])
        #expect(otherContext.status == 2 && otherContext.stderr.contains("context of 16, not 32"), "\(otherContext.stderr)")
    }

    @Test func verifyAndGenerateTakeTextAndShowItsTokens() throws {
        let verified = try Self.run([
            "verify", "fixtures/demo", "--against", "fixtures/demo", "--text", "Anna saw a red ball", "--show-tokens",
        ])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stderr.contains(#"6 tokens: 447 "<|begin_of_text|>", 446 "Anna", 367 " saw", 256 " a", 376 " red", 377 " ball""#))
        #expect(verified.stdout.contains("positions             6"))
        let generated = try Self.run(["generate", "fixtures/demo", "--text", "Anna saw", "-n", "4", "--show-tokens", "--json"])
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stderr.contains(#"3 tokens: 447 "<|begin_of_text|>", 446 "Anna", 367 " saw""#))
        let refused = try Self.run(["verify", "fixtures/demo", "--reference", "fixtures/demo/reference/reference.pth", "--text", "Anna"])
        #expect(refused.status == 2 && refused.stderr.contains("use it with --against"))
    }
}
