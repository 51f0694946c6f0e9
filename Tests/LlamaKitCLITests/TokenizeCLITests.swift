import Foundation
import Testing

/// `llamakit tokenize` with Meta's real Llama 3 tokenizer.model (fetched by `make test`).
@Suite struct TokenizeCLITests {
    static let model = "fixtures/.cache/llama3/tokenizer.model"

    @Test func encodesWithBOSAndShowsPieces() throws {
        let run = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--bos", "Hello world"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "    id  piece\n128000  \"<|begin_of_text|>\"\n  9906  \"Hello\"\n  1917  \" world\"\n3 tokens\n")
    }

    @Test func jsonAndSpecialText() throws {
        let plain = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--json", "a<|eot_id|>b"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
        #expect(object["ids"] as? [Int] == [64, 27, 91, 68, 354, 851, 91, 29, 65])
        let allowed = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--json", "--allow-special", "a<|eot_id|>b"])
        let allowedObject = try #require(try JSONSerialization.jsonObject(with: Data(allowed.stdout.utf8)) as? [String: Any])
        #expect(allowedObject["ids"] as? [Int] == [64, 128_009, 65])
        #expect(allowedObject["pieces"] as? [String] == ["a", "<|eot_id|>", "b"])
    }

    @Test func decodeAndCount() throws {
        let decoded = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--decode", "9906", "1917"])
        #expect(decoded.stdout == "Hello world\n")
        let counted = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--count"], stdin: "Hello world")
        #expect(counted.stdout == "2\n")
    }

    @Test func jsonLinesBothWays() throws {
        let encoded = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--jsonl"], stdin: "\"hello world\"\n\"生活的真谛是\"\n")
        #expect(encoded.stdout == "[15339, 1917]\n[104654, 9554, 89151, 39013, 249, 21043]\n")
        let decoded = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model, "--jsonl", "--decode"], stdin: "[15339, 1917]\n")
        #expect(decoded.stdout == "\"hello world\"\n")
    }

    static let bad: [(arguments: [String], stdin: String, message: String)] = [
        (["--decode", "999999"], "", "token id 999999 is outside the vocabulary 0..<128256"),
        (["--jsonl"], "not json\n", "stdin line 1: expected a JSON string"),
        (["--jsonl", "--decode"], "[1, -5]\n", "stdin line 1: token id -5 is outside the vocabulary"),
    ]

    @Test(arguments: bad)
    func badInputExitsTwo(_ row: (arguments: [String], stdin: String, message: String)) throws {
        let run = try InspectCLITests.run(["tokenize", "--tokenizer", Self.model] + row.arguments, stdin: row.stdin)
        #expect(run.status == 2)
        #expect(run.stderr.contains(row.message), "\(run.stderr)")
    }

    /// Corrupt tokenizer files, written to a temporary directory: exit 2, one message, no crash.
    static let corrupt: [(name: String, bytes: [UInt8], message: String)] = [
        ("truncated-ranks", Array("IQ== 0\nIg== 1\nIw".utf8), "line 3: expected 'base64 rank', found no space"),
        ("impossible-length", [0x0A, 0xFF, 0xFF, 0x03, 0x0A], "byte 1: piece declares 65535 bytes, 1 remain"),
        ("empty", [], "the tokenizer file is empty"),
    ]

    @Test(arguments: corrupt)
    func corruptTokenizerFilesExitTwo(_ row: (name: String, bytes: [UInt8], message: String)) throws {
        let path = NSTemporaryDirectory() + "llamakit-\(row.name)-\(UUID().uuidString).model"
        FileManager.default.createFile(atPath: path, contents: Data(row.bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try InspectCLITests.run(["tokenize", "--tokenizer", path, "hello"])
        #expect(run.status == 2)
        #expect(run.stderr.hasPrefix("error: \(path): "), "\(run.stderr)")
        #expect(run.stderr.contains(row.message), "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count == 1)
    }

    @Test func notATokenizerExitsTwo() throws {
        let run = try InspectCLITests.run(["tokenize", "--tokenizer", "fixtures/llama3-tiny/params.json", "hi"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("not a tokenizer.model"))
    }
}
