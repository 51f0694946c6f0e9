import BinaryIO
import Foundation
import Testing

@testable import LlamaTokenizers

/// Meta's real Llama 3 tokenizer.model, fetched by `make test` (never committed), and vectors
/// recorded from Meta's own `Tokenizer` by `fixtures/tokenizers/make_llama3_vectors.py`.
enum Llama3Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")
    static let modelPath = root.appendingPathComponent(".cache/llama3/tokenizer.model").path

    /// Loaded once for all tests.
    static let tokenizer: Result<Llama3Tokenizer, any Error> = Result {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw InputError(
                .missing,
                "missing: run `make test`, which fetches Meta's tokenizer.model from the llama-models 0.3.0 wheel", file: modelPath)
        }
        return try Llama3Tokenizer(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: modelPath))))
    }

    struct Vectors: Decodable {
        struct Encode: Decodable {
            var text: String
            var ids: [Int]
            var ids_allow_special: [Int]?
        }
        struct Decode: Decodable {
            var ids: [Int]
            var text: String
        }
        var vocab_size: Int
        var encode: [Encode]
        var decode: [Decode]
    }

    static let vectors: Result<Vectors, any Error> = Result {
        try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: root.appendingPathComponent("tokenizers/llama3-vectors.json")))
    }
}

@Suite struct Llama3TokenizerTests {
    /// `docs/formats.md` §5.8: recorded from Meta's tokenizer (BOS included).
    static let knownAnswers: [(text: String, ids: [Int])] = [
        ("hello world", [128000, 15339, 1917]),
        ("Hello World", [128000, 9906, 4435]),
        ("How are you doing?", [128000, 4438, 527, 499, 3815, 30]),
        ("You should've done this", [128000, 2675, 1288, 3077, 2884, 420]),
        ("A\n'll !!to?'d''d of, can't.", [128000, 32, 198, 3358, 11261, 998, 20837, 67, 4708, 67, 315, 11, 649, 956, 13]),
        ("def main():\n\tpass", [128000, 755, 1925, 4019, 42531]),
        ("This\n\nis\na\ntest.", [128000, 2028, 271, 285, 198, 64, 198, 1985, 13]),
        ("Hi  Hello", [128000, 13347, 220, 22691]),
        ("trailing space   ", [128000, 376, 14612, 3634, 262]),
        ("   leading space", [128000, 256, 6522, 3634]),
        ("生活的真谛是", [128000, 104654, 9554, 89151, 39013, 249, 21043]),
        ("The company was founded in 2016.", [128000, 791, 2883, 574, 18538, 304, 220, 679, 21, 13]),
        (
            "test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test",
            [128000, 1985, 400, 16, 432, 17, 674, 18, 13281, 19, 7083, 20, 72588, 21, 113384, 96, 22, 90891, 23, 113384, 109, 24, 1296]
        ),
        ("you…  ", [128000, 9514, 1981, 256]),
        ("you…\u{a0}\u{a0}", [128000, 9514, 1981, 9421]),
        (" Việt", [128000, 101798]),
    ]

    @Test(arguments: knownAnswers)
    func knownAnswerVectors(_ row: (text: String, ids: [Int])) throws {
        let tokenizer = try Llama3Fixture.tokenizer.get()
        #expect(tokenizer.encode(row.text, bos: true) == row.ids)
    }

    @Test func realFileFacts() throws {
        let tokenizer = try Llama3Fixture.tokenizer.get()
        #expect(tokenizer.ranks.count == 128_000)
        #expect(tokenizer.vocabularySize == 128_256)
        #expect(tokenizer.encode("", bos: true, eos: true) == [128_000, 128_001])
        #expect(tokenizer.specialID("<|eot_id|>") == 128_009)
        #expect(tokenizer.specialID("<|image|>") == 128_011)
        #expect(Array(tokenizer.ranks.bytes(of: 220)) == [0x20])
        #expect(tokenizer.encode("a<|eot_id|>b") == [64, 27, 91, 68, 354, 851, 91, 29, 65])
        #expect(tokenizer.encode("a<|eot_id|>b", allowSpecial: true) == [64, 128_009, 65])
    }

    /// 2,009 strings: scripts, emoji, combining marks, whitespace kinds, contractions in every
    /// case, special-token text, 30,000-code-point runs (Meta's chunking).
    @Test func goldenEncodeVectorsFromMetasTokenizer() throws {
        let tokenizer = try Llama3Fixture.tokenizer.get()
        let vectors = try Llama3Fixture.vectors.get()
        #expect(vectors.encode.count >= 2000)
        var mismatches = 0
        for vector in vectors.encode {
            let ids = tokenizer.encode(vector.text)
            if ids != vector.ids {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record(
                        "encode \(vector.text.debugDescription.prefix(120)): got \(ids.prefix(20)), expected \(vector.ids.prefix(20))")
                }
            }
            if let allowed = vector.ids_allow_special {
                #expect(tokenizer.encode(vector.text, allowSpecial: true) == allowed, "\(vector.text.debugDescription)")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func goldenDecodeVectorsIncludingSplitUTF8() throws {
        let tokenizer = try Llama3Fixture.tokenizer.get()
        let vectors = try Llama3Fixture.vectors.get()
        for vector in vectors.decode {
            #expect(try tokenizer.decode(vector.ids) == vector.text, "\(vector.ids)")
        }
        // Round trip of every encode vector.
        for vector in vectors.encode.prefix(500) {
            #expect(try tokenizer.decode(vector.ids) == vector.text)
        }
    }

    @Test(arguments: [-1, 128_256, Int.max])
    func decodeRefusesIdsOutsideTheVocabulary(_ id: Int) throws {
        let tokenizer = try Llama3Fixture.tokenizer.get()
        let error = #expect(throws: InputError.self) { _ = try tokenizer.decode([1, id]) }
        #expect(error?.message == "token id \(id) is outside the vocabulary 0..<128256")
        #expect(error?.kind == .outOfRange)
    }

    @Test(arguments: Llama3Tokenizer.SpecialTokenSet.allCases)
    func specialTokenNamesPerRelease(_ set: Llama3Tokenizer.SpecialTokenSet) throws {
        let names = set.names
        #expect(names.count == 256)
        #expect(Set(names).count == 256)
        #expect(names[0] == "<|begin_of_text|>" && names[1] == "<|end_of_text|>" && names[9] == "<|eot_id|>")
        switch set {
        case .llama3: #expect(names[10] == "<|reserved_special_token_5|>" && names[255] == "<|reserved_special_token_250|>")
        case .llama3_1: #expect(names[11] == "<|reserved_special_token_2|>" && names[255] == "<|reserved_special_token_246|>")
        case .llama3_2: #expect(names[11] == "<|image|>" && names[255] == "<|reserved_special_token_245|>")
        }
    }
}

/// The scanner against the pattern's documented splits (`docs/formats.md` §5.2).
@Suite struct Llama3PreTokenizerTests {
    static func pieces(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(Llama3PreTokenizer.classify)
        var out: [String] = []
        Llama3PreTokenizer.split(scalars[...], classes: classes[...]) { range in
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[range])
            out.append(String(piece))
        }
        return out
    }

    static let examples: [(text: String, pieces: [String])] = [
        ("Hello world", ["Hello", " world"]),
        ("  hello", [" ", " hello"]),
        ("hello   world", ["hello", "  ", " world"]),
        ("x\n\n  y", ["x", "\n\n", " ", " y"]),
        ("a\r\n b", ["a", "\r\n", " b"]),
        ("12345678", ["123", "456", "78"]),
        ("!!!\n\nfoo", ["!!!\n\n", "foo"]),
        ("\t\tx", ["\t", "\tx"]),
        ("a\u{a0}b", ["a", "\u{a0}b"]),
        (" 12345", [" ", "123", "45"]),
        ("x'ſt", ["x", "'ſ", "t"]),
        ("e\u{301}t\u{301}", ["e", "\u{301}t", "\u{301}"]),
        ("किस", ["क", "िस"]),
        ("I'M WE'LL", ["I", "'M", " WE", "'LL"]),
    ]

    @Test(arguments: examples)
    func splitsAsThePattern(_ row: (text: String, pieces: [String])) {
        #expect(Self.pieces(row.text).map { Array($0.unicodeScalars) } == row.pieces.map { Array($0.unicodeScalars) })
    }
}

@Suite struct TiktokenRanksTests {
    static func file(_ lines: [String]) -> [UInt8] {
        let singles = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        return Array((singles + lines).joined(separator: "\n").utf8)
    }

    static let bad: [(bytes: [UInt8], message: String, kind: InputError.Kind)] = [
        (file(["aGk= 256", "not*base64 257"]), "line 258: the token is not valid base64", .malformed),
        (file(["aGk= 256", "aGk 257"]), "line 258: the token is not valid base64", .malformed),
        (file(["aGk= 256", "aGV5 256"]), "line 258: rank 256 appears twice", .malformed),
        (file(["aGk= 256", "aGk= 257"]), "line 258: token bytes [104, 105] appear twice (ranks 256 and 257)", .malformed),
        (file(["aGk= 258"]), "ranks are not dense: rank 256 is missing", .missing),
        (file(["aGk= -1"]), "line 257: the rank '-1' is not a decimal integer", .malformed),
        (file(["aGk=256"]), "line 257: expected 'base64 rank', found no space", .mismatch),
        (file(["aGk= 99999999"]), "is not a decimal integer below 10,000,000", .malformed),
        (Array("aGk= 0\n".utf8), "the single byte 0x0 has no rank", .missing),
    ]

    @Test(arguments: bad)
    func badFilesNameTheLine(_ row: (bytes: [UInt8], message: String, kind: InputError.Kind)) {
        let error = #expect(throws: InputError.self) { _ = try TiktokenRanks(parsing: row.bytes) }
        #expect(error?.kind == row.kind, "\(String(describing: error))")
        #expect(error?.message.contains(row.message) == true, "\(error?.message ?? "none")")
    }

    @Test func tinyFixtureLoadsAndRoundTrips() throws {
        let path = Llama3Fixture.root.appendingPathComponent("llama3-tiny/tokenizer.model")
        let tokenizer = try Llama3Tokenizer(parsing: Array(try Data(contentsOf: path)))
        #expect(tokenizer.vocabularySize == 768)
        let text = "JSON (JavaScript Object Notation) is a lightweight data interchange format."
        #expect(try tokenizer.decode(tokenizer.encode(text)) == text)
    }

    static let formats: [(head: [UInt8], format: TokenizerFormat?)] = [
        (Array("IQ== 0\nIg== 1\n".utf8), .tiktoken),
        ([0x0A, 0x05] + Array("<unk>".utf8), .sentencepiece),
        (Array("{\"model\": 1}".utf8), nil),
        ([], nil),
    ]

    @Test(arguments: formats)
    func formatDetection(_ row: (head: [UInt8], format: TokenizerFormat?)) throws {
        if let format = row.format {
            #expect(try TokenizerFormat.detect(row.head) == format)
        } else {
            #expect(throws: InputError.self) { _ = try TokenizerFormat.detect(row.head) }
        }
    }
}

/// The hard-coded White_Space set equals the stdlib's property on every scalar.
@Suite struct WhiteSpaceTableTests {
    @Test func matchesTheUnicodePropertyEverywhere() {
        var checked = 0
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(Llama3PreTokenizer.isWhiteSpace(scalar) == scalar.properties.isWhitespace, "U+\(String(value, radix: 16))")
            checked += 1
        }
        #expect(checked == 1_112_064)
    }
}
