import BinaryIO
import Foundation
import Testing

@testable import LlamaTokenizers

/// Llama 2's tokenizer against sentencepiece itself, on the committed model trained with
/// Llama 2's settings (`fixtures/llama2-tiny/tokenizer.model`).
@Suite struct SentencePieceTokenizerTests {
    static let modelBytes: [UInt8] =
        (try? Array(Data(contentsOf: Llama3Fixture.root.appendingPathComponent("llama2-tiny/tokenizer.model")))) ?? []

    struct Vectors: Decodable {
        struct Encode: Decodable {
            var text: String
            var ids: [Int]
        }
        struct Decode: Decodable {
            var ids: [Int]
            var text: String
        }
        var encode: [Encode]
        var decode: [Decode]
    }

    static func vectors() throws -> Vectors {
        try JSONDecoder().decode(
            Vectors.self, from: Data(contentsOf: Llama3Fixture.root.appendingPathComponent("tokenizers/llama2-vectors.json")))
    }

    @Test func modelFieldsAsTrained() throws {
        let tokenizer = try SentencePieceTokenizer(parsing: Self.modelBytes)
        #expect(tokenizer.vocabularySize == 1000)
        #expect(tokenizer.model.byteFallback)
        #expect(!tokenizer.model.removeExtraWhitespaces)
        #expect(tokenizer.model.pieces[0].type == .unknown && tokenizer.model.pieces[1].type == .control)
        #expect(tokenizer.model.pieces[3].type == .byte && String(decoding: tokenizer.model.pieces[3].bytes, as: UTF8.self) == "<0x00>")
        #expect(tokenizer.model.padID == -1)
        #expect(tokenizer.encode("", bos: true, eos: true) == [1, 2])
    }

    @Test func goldenEncodeVectorsFromSentencePiece() throws {
        let tokenizer = try SentencePieceTokenizer(parsing: Self.modelBytes)
        let vectors = try Self.vectors()
        #expect(vectors.encode.count >= 2000)
        var mismatches = 0
        for vector in vectors.encode where tokenizer.encode(vector.text) != vector.ids {
            mismatches += 1
            if mismatches <= 5 {
                Issue.record(
                    "encode \(vector.text.debugDescription.prefix(100)): got \(tokenizer.encode(vector.text).prefix(16)), expected \(vector.ids.prefix(16))"
                )
            }
        }
        #expect(mismatches == 0)
    }

    @Test func goldenDecodeVectorsFromSentencePiece() throws {
        let tokenizer = try SentencePieceTokenizer(parsing: Self.modelBytes)
        for vector in try Self.vectors().decode {
            #expect(try tokenizer.decode(vector.ids) == vector.text, "\(vector.ids)")
        }
    }

    @Test func decodeGivesOneReplacementPerInvalidByte() {
        // <0xE6><0x97> is a truncated 3-byte sequence: sentencepiece gives two U+FFFD.
        #expect(SentencePieceTokenizer.decodeBytesReplacingEach([0xE6, 0x97]) == Array("\u{FFFD}\u{FFFD}".utf8))
        #expect(SentencePieceTokenizer.decodeBytesReplacingEach([0xE6, 0x97, 0xA5, 0xFF]) == Array("日\u{FFFD}".utf8))
    }

    /// A field key, a length varint, then `length` bytes of payload (which may lie).
    static func field(_ number: UInt8, wire: UInt8, _ payload: [UInt8]) -> [UInt8] { [number << 3 | wire] + payload }

    static let corrupt: [(bytes: [UInt8], message: String, kind: InputError.Kind)] = [
        (field(1, wire: 2, [0x7F]), "piece declares 127 bytes, 0 remain", .truncated),
        (field(1, wire: 2, [0x05, 0x0A, 0x10, 0x41, 0x42, 0x43]), "piece text declares 16 bytes, 3 remain", .truncated),
        (field(1, wire: 2, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]), "varint longer than 10 bytes", .overLimit),
        (field(1, wire: 3, []), "unsupported protobuf wire type 3", .unsupported),
        (field(1, wire: 2, [0x02, 0x18, 0x09]), "unknown piece type 9", .malformed),
        (
            field(2, wire: 2, [0x02, 0x18, 0x01])
                + [[0x03, 0x0A, 0x01, 0x41], [0x03, 0x0A, 0x01, 0x42], [0x03, 0x0A, 0x01, 0x43]].flatMap { field(1, wire: 2, $0) },
            "model type 1 is not BPE", .unsupported
        ),
        ([], "the model has no pieces", .missing),
        ([0x0A], "truncated", .truncated),
    ]

    @Test(arguments: corrupt)
    func corruptModelsAreRefused(_ row: (bytes: [UInt8], message: String, kind: InputError.Kind)) {
        let error = #expect(throws: InputError.self) { _ = try SentencePieceTokenizer(parsing: row.bytes) }
        #expect(error?.kind == row.kind, "\(String(describing: error))")
        #expect(error?.message.contains(row.message) == true, "\(error?.message ?? "none")")
    }

    @Test func truncationsOfTheRealModelNeverCrash() {
        let bytes = Self.modelBytes
        var refused = 0
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 500)) {
            do {
                _ = try SentencePieceTokenizer(parsing: Array(bytes[..<cut]))
            } catch is InputError {
                refused += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(refused > 400)
    }
}

/// USER_DEFINED pieces (matched whole, never merged) and UNUSED pieces (split back into their
/// merge parts), against sentencepiece on `fixtures/tokenizers/sp-special.model`.
@Suite struct SentencePieceSpecialPiecesTests {
    struct Vectors: Decodable {
        var unused: [String]
        var encode: [SentencePieceTokenizerTests.Vectors.Encode]
        var decode: [SentencePieceTokenizerTests.Vectors.Decode]
    }

    @Test func matchesSentencePiece() throws {
        let root = Llama3Fixture.root.appendingPathComponent("tokenizers")
        let tokenizer = try SentencePieceTokenizer(parsing: Array(try Data(contentsOf: root.appendingPathComponent("sp-special.model"))))
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: root.appendingPathComponent("sp-special-vectors.json")))
        #expect(tokenizer.model.pieces.filter { $0.type == .userDefined }.count == 4)
        #expect(tokenizer.model.pieces.filter { $0.type == .unused }.count == vectors.unused.count)
        for vector in vectors.encode {
            #expect(tokenizer.encode(vector.text) == vector.ids, "\(vector.text.debugDescription)")
        }
        for vector in vectors.decode {
            #expect(try tokenizer.decode(vector.ids) == vector.text, "\(vector.ids)")
        }
    }
}
