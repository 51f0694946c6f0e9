import BinaryIO
import Foundation
import Testing

@testable import LlamaTokenizers

/// Hugging Face tokenizer.json read and written (`docs/formats.md` §5.9), against transformers'
/// own converter output and the `tokenizers` library's ids
/// (`fixtures/tokenizers/make_tokenizer_json.py`).
@Suite struct HFTokenizerJSONTests {
    static let hf = Llama3Fixture.root.appendingPathComponent("tokenizers/hf")

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    static func fixtureModel(_ name: String) throws -> any Tokenizer {
        try TokenizerLoader.load(path: Llama3Fixture.root.appendingPathComponent("\(name)/tokenizer.model").path)
    }

    struct Golden: Decodable {
        struct Vector: Decodable {
            var text: String
            var hf_ids: [Int]
            var meta_ids: [Int]?
        }
        var strings: Int
        var hf_equals_meta: Int
        var hello_world_with_special_tokens: [Int]
        var vectors: [Vector]
    }

    static func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: hf.appendingPathComponent("\(name)/golden.json")))
    }

    // MARK: - Reading transformers' files

    /// transformers' tokenizer.json gives Meta's ids, which on these strings (no special-token
    /// text) are also the `tokenizers` library's.
    @Test(arguments: ["llama2-tiny", "llama3-tiny"])
    func transformersFileEncodesAsMetaAndTokenizers(_ name: String) throws {
        let contents = try HFTokenizerJSON.load(directory: Self.hf.appendingPathComponent(name).path)
        let golden = try Self.golden(name)
        #expect(golden.vectors.count == golden.strings && golden.strings > 1500)
        var mismatches = 0
        for vector in golden.vectors {
            let ids = contents.tokenizer.encode(vector.text, bos: false, eos: false, allowSpecial: false)
            if ids != (vector.meta_ids ?? vector.hf_ids) || ids != vector.hf_ids {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(name) \(vector.text.debugDescription.prefix(80)): got \(ids.prefix(16))") }
            }
        }
        #expect(mismatches == 0)
        #expect(contents.addsBOS && !contents.addsEOS)
        #expect(
            [contents.bosID] + contents.tokenizer.encode("hello world", bos: false, eos: false, allowSpecial: false)
                == golden.hello_world_with_special_tokens)
    }

    /// Every string of the Llama 2 vector file (special-token text included: both sides treat it
    /// as text) against sentencepiece's ids, and decode vectors.
    @Test func llama2TinyJSONMatchesSentencePieceVectors() throws {
        let tokenizer = try HFTokenizerJSON.load(directory: Self.hf.appendingPathComponent("llama2-tiny").path).tokenizer
        #expect(tokenizer is SentencePieceTokenizer)
        let vectors = try SentencePieceTokenizerTests.vectors()
        #expect(vectors.encode.count >= 2000)
        let wrong = vectors.encode.filter { tokenizer.encode($0.text, bos: false, eos: false, allowSpecial: false) != $0.ids }
        #expect(wrong.isEmpty, "\(wrong.prefix(3).map(\.text))")
        for vector in vectors.decode { #expect(try tokenizer.decode(vector.ids) == vector.text) }
    }

    /// The Llama 3 fixture's tokenizer.json against Meta's tokenizer on its tokenizer.model, on
    /// every vector string, specials disallowed and allowed.
    @Test func llama3TinyJSONMatchesTheRanksFile() throws {
        let fromJSON = try HFTokenizerJSON.load(directory: Self.hf.appendingPathComponent("llama3-tiny").path)
        let meta = try Self.fixtureModel("llama3-tiny")
        #expect(fromJSON.layout == .llama3 && fromJSON.bosID == 512 && fromJSON.eosID == 513)
        let vectors = try Llama3Fixture.vectors.get()
        var mismatches = 0
        for vector in vectors.encode {
            for allow in [false, true]
            where fromJSON.tokenizer.encode(vector.text, bos: true, eos: false, allowSpecial: allow)
                != meta.encode(vector.text, bos: true, eos: false, allowSpecial: allow)
            {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
    }

    /// Meta's real Llama 3 tokenizer: written by our writer (280,147 merges, as in Hugging Face's
    /// file), read back by our reader, encodes and decodes every vector exactly; parsing the
    /// ~9 MB file is timed.
    @Test func realLlama3WrittenAndReadBack() throws {
        let meta = try Llama3Fixture.tokenizer.get()
        let files = try HFTokenizerJSON.write(meta)
        #expect(files.tokenizerJSON.count > 8_000_000)
        let clock = ContinuousClock()
        var contents: HFTokenizerJSON.Contents?
        let elapsed = try clock.measure { contents = try HFTokenizerJSON.read(tokenizerJSON: files.tokenizerJSON) }
        print("read the real Llama 3 tokenizer.json (\(files.tokenizerJSON.count) bytes) in \(elapsed)")
        let tokenizer = try #require(contents?.tokenizer as? Llama3Tokenizer)
        #expect(tokenizer.specialTokens == meta.specialTokens && tokenizer.vocabularySize == 128_256)
        guard case .object(let root) = try JSONParser.parse(files.tokenizerJSON) else { throw InputError(.malformed, "not an object") }
        #expect(root["model"]?.object?["merges"]?.array?.count == 280_147)
        let vectors = try Llama3Fixture.vectors.get()
        var mismatches = 0
        for vector in vectors.encode {
            if tokenizer.encode(vector.text) != vector.ids { mismatches += 1 }
            if let allowed = vector.ids_allow_special, tokenizer.encode(vector.text, allowSpecial: true) != allowed { mismatches += 1 }
        }
        #expect(mismatches == 0)
        for vector in vectors.decode { #expect(try tokenizer.decode(vector.ids) == vector.text) }
    }

    // MARK: - Writing as transformers does

    /// Our writer's tokenizer.json is byte for byte transformers' (4.57.1 converters, tokenizers
    /// 0.22.2); the configs are too, except that ours name PreTrainedTokenizerFast and a
    /// model_max_length for Llama 2.
    @Test(arguments: ["llama2-tiny", "llama3-tiny", "demo"])
    func writerMatchesTransformersFiles(_ name: String) throws {
        let files = try HFTokenizerJSON.write(try Self.fixtureModel(name))
        let directory = Self.hf.appendingPathComponent(name)
        #expect(files.tokenizerJSON == (try Self.bytes(directory.appendingPathComponent("tokenizer.json"))))
        #expect(files.specialTokensMap == (try Self.bytes(directory.appendingPathComponent("special_tokens_map.json"))))
        let theirs = try Self.bytes(directory.appendingPathComponent("tokenizer_config.json"))
        if name == "llama2-tiny" {
            var expected = try JSONParser.parse(theirs)
            expected = replacing(["tokenizer_class"], in: expected, with: .string("PreTrainedTokenizerFast"))
            expected = replacing(["model_max_length"], in: expected, with: .integer(4096))
            #expect(try JSONParser.parse(files.tokenizerConfig) == expected)
        } else {
            #expect(files.tokenizerConfig == theirs)
        }
    }

    /// Options reach the files: BOS in the template, EOS and the chat template in the config.
    @Test func writerOptions() throws {
        let options = HFTokenizerJSON.WriteOptions(
            eosToken: "<|eot_id|>", chatTemplate: "{{ bos_token }}\n{% for m in messages %}", modelMaxLength: 8192)
        let files = try HFTokenizerJSON.write(try Self.fixtureModel("llama3-tiny"), options: options)
        let config = try JSONParser.parse(files.tokenizerConfig).object
        #expect(config?["eos_token"] == .string("<|eot_id|>"))
        #expect(config?["chat_template"] == .string("{{ bos_token }}\n{% for m in messages %}"))
        #expect(config?["model_max_length"] == .integer(8192))
        let back = try HFTokenizerJSON.read(tokenizerJSON: files.tokenizerJSON, config: files.tokenizerConfig)
        #expect(back.eosID == 521 && back.eosToken == "<|eot_id|>" && back.chatTemplate == options.chatTemplate)
        #expect(throws: InputError.self) {
            try HFTokenizerJSON.write(try Self.fixtureModel("llama3-tiny"), options: .init(bosToken: "<s>"))
        }
    }

    /// Our Llama 2 files read back by our reader, in both layouts transformers has used.
    @Test(arguments: [false, true])
    func writtenLlama2ReadsBack(metaspace: Bool) throws {
        var json = try JSONParser.parse(try HFTokenizerJSON.write(try Self.fixtureModel("llama2-tiny")).tokenizerJSON)
        if metaspace {
            json = replacing(["normalizer"], in: json, with: .null)
            json = replacing(
                ["pre_tokenizer"], in: json,
                with: .object(
                    JSONObject([
                        ("type", .string("Metaspace")), ("replacement", .string("\u{2581}")), ("prepend_scheme", .string("first")),
                        ("split", .bool(false)),
                    ])))
        }
        let contents = try HFTokenizerJSON.read(tokenizerJSON: JSONWriter.bytes(json))
        #expect(contents.layout == (metaspace ? .sentencePieceMetaspace : .sentencePieceNormalizer))
        let vectors = try SentencePieceTokenizerTests.vectors()
        let wrong = vectors.encode.filter { contents.tokenizer.encode($0.text, bos: false, eos: false, allowSpecial: false) != $0.ids }
        #expect(wrong.isEmpty, "\(wrong.prefix(3).map(\.text))")
    }

    @Test func writerRefusesWhatTokenizerJSONCannotHold() throws {
        // sp-special.model has UNUSED pieces, which a tokenizer.json vocabulary cannot mark.
        let model = try SentencePieceTokenizer(
            parsing: try Self.bytes(Llama3Fixture.root.appendingPathComponent("tokenizers/sp-special.model")))
        let error = try #require(throws: InputError.self) { try HFTokenizerJSON.write(model) }
        #expect(error.kind == .unsupported)
    }

    // MARK: - Loading

    @Test func loaderTakesTokenizerJSONPathsAndDirectories() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("llamakit-hfjson-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.bytes(Self.hf.appendingPathComponent("llama3-tiny/tokenizer.json"))
        let path = directory.appendingPathComponent("tokenizer.json")
        try Data(Array(" \n\t".utf8) + source).write(to: path)
        let expected = try Self.fixtureModel("llama3-tiny").encode("Hello, world!", bos: true, eos: false, allowSpecial: false)
        for tokenizer in [try TokenizerLoader.load(path: path.path), try TokenizerLoader.load(path: directory.path)] {
            #expect(tokenizer is Llama3Tokenizer)
            #expect(tokenizer.encode("Hello, world!", bos: true, eos: false, allowSpecial: false) == expected)
        }
        // A config beside it that contradicts tokenizer.json is refused, naming the file.
        try Data(#"{"added_tokens_decoder": {"512": {"content": "<|eot_id|>"}}}"#.utf8).write(
            to: directory.appendingPathComponent("tokenizer_config.json"))
        let error = try #require(throws: InputError.self) { try TokenizerLoader.load(path: path.path) }
        #expect(error.kind == .mismatch && error.location == .key("added_tokens_decoder") && error.file == path.path)
    }

    @Test func byteLevelTextRoundTripsEveryByte() {
        let all = (0...255).map(UInt8.init)
        #expect(ByteLevelText.bytes(ByteLevelText.string(all)) == all)
        #expect(ByteLevelText.bytes(" ") == nil && ByteLevelText.bytes("\u{144}") == nil)
    }

    /// For `Interop/hf_tokenizer_json.py`: with `LLAMAKIT_HF_TOKENIZER_OUT` set, writes our files for
    /// the Llama 2 fixture, the Llama 3 fixture and Meta's real Llama 3 tokenizer (base, and
    /// instruct with `<|eot_id|>` and a chat template) into that directory.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["LLAMAKIT_HF_TOKENIZER_OUT"] != nil))
    func exportForInterop() throws {
        let out = URL(fileURLWithPath: try #require(ProcessInfo.processInfo.environment["LLAMAKIT_HF_TOKENIZER_OUT"]))
        let template =
            "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
        let jobs: [(String, any Tokenizer, HFTokenizerJSON.WriteOptions)] = [
            ("llama2-tiny", try Self.fixtureModel("llama2-tiny"), .init()),
            ("llama3-tiny", try Self.fixtureModel("llama3-tiny"), .init()),
            ("llama3", try Llama3Fixture.tokenizer.get(), .init()),
            ("llama3-instruct", try Llama3Fixture.tokenizer.get(), .init(eosToken: "<|eot_id|>", chatTemplate: template)),
        ]
        for (name, tokenizer, options) in jobs {
            let directory = out.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (file, bytes) in try HFTokenizerJSON.write(tokenizer, options: options).named {
                try Data(bytes).write(to: directory.appendingPathComponent(file))
            }
        }
    }

    // MARK: - Refusals

    struct Refusal: CustomTestStringConvertible, Sendable {
        var name: String
        var fixture: String
        var edit: @Sendable (JSONValue) -> JSONValue
        var kind: InputError.Kind
        var key: String?
        var testDescription: String { name }
    }

    static let llama3Split = ["pre_tokenizer", "pretokenizers", "0", "pattern", "Regex"]

    static let refusals: [Refusal] = [
        Refusal(
            name: "Unigram model", fixture: "llama2-tiny", edit: { replacing(["model", "type"], in: $0, with: .string("Unigram")) },
            kind: .unsupported, key: "model.type"),
        Refusal(
            name: "WordPiece model", fixture: "llama3-tiny", edit: { replacing(["model", "type"], in: $0, with: .string("WordPiece")) },
            kind: .unsupported, key: "model.type"),
        Refusal(
            name: "another split regex", fixture: "llama3-tiny",
            edit: {
                replacing(
                    llama3Split, in: $0, with: .string(#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#))
            },
            kind: .mismatch, key: "pre_tokenizer.pretokenizers[0].pattern.Regex"),
        Refusal(
            name: "GPT-2 ByteLevel pre-tokenizer alone", fixture: "llama3-tiny",
            edit: {
                replacing(
                    ["pre_tokenizer"], in: $0,
                    with: .object(
                        JSONObject([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("use_regex", .bool(true))])))
            }, kind: .unsupported, key: "pre_tokenizer"),
        Refusal(
            name: "ByteLevel with GPT-2's regex", fixture: "llama3-tiny",
            edit: { replacing(["pre_tokenizer", "pretokenizers", "1", "use_regex"], in: $0, with: .bool(true)) }, kind: .unsupported,
            key: "pre_tokenizer"),
        Refusal(
            name: "ignore_merges false", fixture: "llama3-tiny",
            edit: { replacing(["model", "ignore_merges"], in: $0, with: .bool(false)) },
            kind: .unsupported, key: "model.ignore_merges"),
        Refusal(
            name: "vocab ids not a permutation (repeated)", fixture: "llama3-tiny",
            edit: { replacing(["model", "vocab", "!"], in: $0, with: .integer(1)) }, kind: .malformed, key: "model.vocab"),
        Refusal(
            name: "vocab ids not a permutation (out of range)", fixture: "llama2-tiny",
            edit: { replacing(["model", "vocab", "<s>"], in: $0, with: .integer(1000)) }, kind: .malformed, key: "model.vocab"),
        Refusal(
            name: "a token not in byte-level form", fixture: "llama3-tiny",
            edit: { renamingKey("!", to: "\u{4E00}", in: $0) }, kind: .malformed, key: "model.vocab"),
        Refusal(
            name: "Llama 3 merges out of rank order", fixture: "llama3-tiny", edit: { swappingMerges(0, 5, in: $0) }, kind: .mismatch,
            key: "model.merges"),
        Refusal(
            name: "a Llama 3 merge missing", fixture: "llama3-tiny", edit: { removingMerge(3, in: $0) }, kind: .mismatch,
            key: "model.merges"),
        Refusal(
            name: "a Llama 2 merge missing", fixture: "llama2-tiny", edit: { removingMerge(1, in: $0) }, kind: .mismatch,
            key: "model.merges"),
        Refusal(
            name: "a merge that makes no token", fixture: "llama2-tiny",
            edit: { replacing(["model", "merges", "0"], in: $0, with: .array([.string("<s>"), .string("</s>")])) }, kind: .mismatch,
            key: "model.merges"),
        Refusal(
            name: "255 specials", fixture: "llama3-tiny",
            edit: { value in
                var copy = value
                if case .array(let items)? = value.object?["added_tokens"] {
                    copy = replacing(["added_tokens"], in: value, with: .array(items.dropLast()))
                }
                return copy
            }, kind: .mismatch, key: "added_tokens"),
        Refusal(
            name: "renamed special", fixture: "llama3-tiny",
            edit: { replacing(["added_tokens", "9", "content"], in: $0, with: .string("<|end_of_turn|>")) }, kind: .unsupported,
            key: "added_tokens"),
        Refusal(
            name: "Replace-only normaliser", fixture: "llama2-tiny",
            edit: {
                replacing(
                    ["normalizer"], in: $0,
                    with: .object(
                        JSONObject([
                            ("type", .string("Replace")), ("pattern", .object(JSONObject([("String", .string(" "))]))),
                            ("content", .string("\u{2581}")),
                        ])))
            }, kind: .unsupported, key: "normalizer"),
        Refusal(
            name: "splitting Metaspace", fixture: "llama2-tiny",
            edit: {
                replacing(
                    ["pre_tokenizer"], in: replacing(["normalizer"], in: $0, with: .null),
                    with: .object(
                        JSONObject([
                            ("type", .string("Metaspace")), ("replacement", .string("\u{2581}")), ("add_prefix_space", .bool(true)),
                        ])))
            }, kind: .unsupported, key: "pre_tokenizer"),
        Refusal(
            name: "unk_token not in the vocabulary", fixture: "llama2-tiny",
            edit: { replacing(["model", "unk_token"], in: $0, with: .string("<unknown>")) }, kind: .mismatch, key: "model.unk_token"),
        Refusal(
            name: "BERT post-processor", fixture: "llama2-tiny",
            edit: { replacing(["post_processor"], in: $0, with: .object(JSONObject([("type", .string("BertProcessing"))]))) },
            kind: .unsupported, key: "post_processor"),
        Refusal(
            name: "a WordPiece decoder", fixture: "llama3-tiny",
            edit: { replacing(["decoder"], in: $0, with: .object(JSONObject([("type", .string("WordPiece"))]))) }, kind: .unsupported,
            key: "decoder"),
        Refusal(name: "no model", fixture: "llama3-tiny", edit: { removing("model", in: $0) }, kind: .missing, key: "model"),
        Refusal(name: "an array, not an object", fixture: "llama3-tiny", edit: { _ in .array([]) }, kind: .malformed, key: nil),
    ]

    @Test(arguments: refusals)
    func refusesWithTheRightKindAndKey(_ refusal: Refusal) throws {
        let original = try JSONParser.parse(try Self.bytes(Self.hf.appendingPathComponent("\(refusal.fixture)/tokenizer.json")))
        _ = try HFTokenizerJSON.read(tokenizerJSON: JSONWriter.bytes(original))
        let edited = refusal.edit(original)
        #expect(edited != original, "the edit changed nothing")
        let error = try #require(throws: InputError.self) { try HFTokenizerJSON.read(tokenizerJSON: JSONWriter.bytes(edited)) }
        #expect(error.kind == refusal.kind, "\(error)")
        if let key = refusal.key { #expect(error.location == .key(key), "\(error)") }
    }
}

// MARK: - JSON edits for the refusal table

/// `value` with the member at `path` (object keys, or decimal array indices) replaced by `new`
/// (inserted at the end of its object when absent).
func replacing(_ path: [String], in value: JSONValue, with new: JSONValue) -> JSONValue {
    guard let head = path.first else { return new }
    let rest = Array(path.dropFirst())
    switch value {
    case .object(let object):
        var copy = JSONObject()
        var found = false
        for (key, member) in object.members {
            if key == head {
                found = true
                copy.insert(key, replacing(rest, in: member, with: new))
            } else {
                copy.insert(key, member)
            }
        }
        if !found { copy.insert(head, replacing(rest, in: .null, with: new)) }
        return .object(copy)
    case .array(var items):
        guard let index = Int(head), items.indices.contains(index) else { return value }
        items[index] = replacing(rest, in: items[index], with: new)
        return .array(items)
    default:
        return value
    }
}

func removing(_ key: String, in value: JSONValue) -> JSONValue {
    guard case .object(let object) = value else { return value }
    return .object(JSONObject(object.members.filter { $0.key != key }.map { ($0.key, $0.value) }))
}

func renamingKey(_ old: String, to new: String, in value: JSONValue) -> JSONValue {
    guard case .object(let vocab)? = value.object?["model"]?.object?["vocab"] else { return value }
    let renamed = JSONObject(vocab.members.map { ($0.key == old ? new : $0.key, $0.value) })
    return replacing(["model", "vocab"], in: value, with: .object(renamed))
}

func swappingMerges(_ a: Int, _ b: Int, in value: JSONValue) -> JSONValue {
    guard var merges = value.object?["model"]?.object?["merges"]?.array else { return value }
    merges.swapAt(a, b)
    return replacing(["model", "merges"], in: value, with: .array(merges))
}

func removingMerge(_ index: Int, in value: JSONValue) -> JSONValue {
    guard var merges = value.object?["model"]?.object?["merges"]?.array else { return value }
    merges.remove(at: index)
    return replacing(["model", "merges"], in: value, with: .array(merges))
}
