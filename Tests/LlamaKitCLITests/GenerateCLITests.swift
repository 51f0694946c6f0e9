import Foundation
import GGUF
import Testing

/// `generate` stops at the tokenizer's end tokens and never streams half a UTF-8 character.
///
/// The model is built for the test: the tokenizer and `llama.*` keys of a converted fixture, one
/// layer whose attention and feed-forward weights are zero (so the residual stream is the
/// current token's embedding), and embedding/output rows chosen so that greedy decoding follows
/// a fixed table `next[token]`. Every step is then known in advance, whatever the sampler.
@Suite struct GenerateCLITests {
    static let dim = 32

    /// Writes a GGUF whose greedy successor of `token` is `next[token]` (others go to id 0).
    static func model(from fixture: String, next: [Int: Int], in directory: String) throws -> String {
        let base = directory + "/base.gguf"
        let converted = try InspectCLITests.run(["convert", "fixtures/\(fixture)", "-o", base, "--type", "f32"])
        try #require(converted.status == 0, "\(converted.stderr)")
        let file = try GGUFFile(path: base)
        guard case .u32(let vocab32)? = file.value("llama.vocab_size") else { throw GGUFTestError.noVocab }
        let vocab = Int(vocab32)
        let d = dim
        let overrides: [String: GGUFValue] = [
            "llama.block_count": .u32(1), "llama.embedding_length": .u32(UInt32(d)), "llama.feed_forward_length": .u32(UInt32(d)),
            "llama.attention.head_count": .u32(1), "llama.attention.head_count_kv": .u32(1),
            "llama.rope.dimension_count": .u32(UInt32(d)), "general.file_type": .u32(0),
        ]
        var writer = GGUFWriter()
        for (key, value) in file.metadata { writer.add(key, overrides[key] ?? value) }
        // Each source token gets its own direction k; the successor's output row reads it.
        var embedding = [Float](repeating: 0, count: vocab * d)
        var output = [Float](repeating: 0, count: vocab * d)
        for (k, (token, successor)) in next.sorted(by: { $0.key < $1.key }).enumerated() {
            precondition(k < d)
            embedding[token * d + k] = 1
            output[successor * d + k] = 10
        }
        let ones = [Float](repeating: 1, count: d)
        let zeros = [Float](repeating: 0, count: d * d)
        let tensors: [(String, [Int], [Float])] = [
            ("token_embd.weight", [vocab, d], embedding), ("output_norm.weight", [d], ones), ("output.weight", [vocab, d], output),
            ("blk.0.attn_norm.weight", [d], ones), ("blk.0.attn_q.weight", [d, d], zeros), ("blk.0.attn_k.weight", [d, d], zeros),
            ("blk.0.attn_v.weight", [d, d], zeros), ("blk.0.attn_output.weight", [d, d], zeros), ("blk.0.ffn_norm.weight", [d], ones),
            ("blk.0.ffn_gate.weight", [d, d], zeros), ("blk.0.ffn_down.weight", [d, d], zeros), ("blk.0.ffn_up.weight", [d, d], zeros),
        ]
        for (name, shape, _) in tensors { try writer.addTensor(name: name, shape: shape, type: .f32) }
        let path = directory + "/table.gguf"
        try writer.write(to: path, sync: false) { index, sink in try tensors[index].2.withUnsafeBytes { try sink($0) } }
        return path
    }

    enum GGUFTestError: Error { case noVocab }

    struct Generated: Decodable {
        var ids: [Int]
        var text: String
    }

    static func generate(_ model: String, _ prompt: [Int], n: Int = 12) throws -> (json: Generated, streamed: String) {
        let prompt = prompt.map(String.init).joined(separator: ",")
        let json = try InspectCLITests.run(["generate", model, "--prompt-tokens", prompt, "-n", "\(n)", "--json"])
        try #require(json.status == 0, "\(json.stderr)")
        let streamed = try InspectCLITests.run(["generate", model, "--prompt-tokens", prompt, "-n", "\(n)"])
        try #require(streamed.status == 0, "\(streamed.stderr)")
        return (try JSONDecoder().decode(Generated.self, from: Data(json.stdout.utf8)), streamed.stdout)
    }

    /// Llama 3 (llama31-tiny's tokenizer: ranks are byte values, specials from 512):
    /// <|end_of_text|> 513, <|eom_id|> 520, <|eot_id|> 521; <|start_header_id|> 518 is not an end.
    @Test func llama3StopsAtEndOfTextEndOfTurnAndEndOfMessage() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let x = 120, y = 121, p = 112, q = 113, z = 122, h = 104
        let model = try Self.model(
            from: "llama31-tiny", next: [x: y, y: 521, p: 520, q: 513, z: z, h: 518, 518: x], in: directory)
        for (prompt, ids, text) in [(x, [y], "y"), (p, [], ""), (q, [], ""), (h, [518, x, y], "<|start_header_id|>xy")] {
            let run = try Self.generate(model, [prompt])
            #expect(run.json.ids == ids, "after \(prompt)")
            #expect(run.json.text == text)
            #expect(run.streamed == text + "\n")
        }
        // Without an end token the run goes to -n.
        #expect(try Self.generate(model, [z], n: 5).json.ids == [z, z, z, z, z])
    }

    /// Llama 2 (llama2-tiny's sentencepiece): </s> is 2.
    @Test func llama2StopsAtEndOfSentence() throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let x = 955, y = 952
        let model = try Self.model(from: "llama2-tiny", next: [x: y, y: 2], in: directory)
        let run = try Self.generate(model, [1, x])
        #expect(run.json.ids == [y])
        #expect(run.streamed == "y\n")
    }

    /// "é" is two byte tokens (0xC3, 0xA9), then "z": streaming holds the first byte until the
    /// second completes the character.
    @Test(arguments: [("llama31-tiny", 97, 195, 169, 122, 521), ("llama2-tiny", 266, 198, 172, 978, 2)])
    func aCharacterSplitAcrossTokensStreamsWhole(_ row: (fixture: String, a: Int, lead: Int, trail: Int, b: Int, end: Int)) throws {
        let directory = try ConvertCLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try Self.model(
            from: row.fixture, next: [row.a: row.lead, row.lead: row.trail, row.trail: row.b, row.b: row.end], in: directory)
        let run = try Self.generate(model, [row.a])
        #expect(run.json.ids == [row.lead, row.trail, row.b])
        #expect(!run.streamed.contains("\u{FFFD}"))
        #expect(run.streamed.hasSuffix("éz\n"), "\(run.streamed.debugDescription)")
        #expect(run.streamed == run.json.text + "\n")
        // Cut after the lead byte, the stream ends as the final decode does.
        let cut = try Self.generate(model, [row.a], n: 1)
        #expect(cut.json.ids == [row.lead])
        #expect(cut.streamed == cut.json.text + "\n")
    }
}
