import BinaryIO
import GGUF
import LlamaTokenizers

/// The tokenizer a GGUF file carries, rebuilt from its `tokenizer.ggml.*` keys — the inverse of
/// `Conversion.TokenizerMetadata` (`docs/formats.md` §3.8).
///
/// `gpt2` (Llama 3): tokens are GPT-2 byte-to-unicode strings whose id is their rank; the last
/// 256 are the specials. They become a tiktoken ranks file, read by the same reader as Meta's.
/// `llama` (Llama 1/2): tokens, scores and types become a sentencepiece `ModelProto` with Llama
/// 2's options (BPE, byte fallback, dummy prefix, no whitespace folding).
public enum GGUFTokenizer {
    /// - Throws: `InputError` naming the key that is missing or malformed.
    public static func load(from file: GGUFFile) throws -> any Tokenizer {
        guard case .string(let model)? = file.value("tokenizer.ggml.model") else {
            throw InputError(
                .missing,
                "the file has no tokenizer (tokenizer.ggml.model is missing)", at: .key("tokenizer.ggml.model"), file: file.path)
        }
        let tokens = try strings(file, "tokenizer.ggml.tokens")
        do {
            switch model {
            case "gpt2": return try llama3(tokens: tokens, types: try integers(file, "tokenizer.ggml.token_type", count: tokens.count))
            case "llama":
                return try sentencePiece(
                    tokens: tokens, scores: try floats(file, "tokenizer.ggml.scores", count: tokens.count),
                    types: try integers(file, "tokenizer.ggml.token_type", count: tokens.count),
                    ids: (
                        unk: try id(file, "tokenizer.ggml.unknown_token_id") ?? 0, bos: try id(file, "tokenizer.ggml.bos_token_id") ?? 1,
                        eos: try id(file, "tokenizer.ggml.eos_token_id") ?? 2
                    ))
            default:
                throw InputError(
                    .mismatch,
                    "tokenizer model '\(model)' is not a Llama tokenizer (expected gpt2 or llama)", at: .key("tokenizer.ggml.model"))
            }
        } catch let error as InputError {
            throw error.inFile(file.path)
        }
    }

    static func llama3(tokens: [String], types: [Int]) throws -> Llama3Tokenizer {
        let specials = Llama3Tokenizer.SpecialTokenSet.count
        guard tokens.count > specials + 256 else {
            throw InputError(
                .malformed, "\(tokens.count) tokens cannot hold 256 bytes and \(specials) specials", at: .key("tokenizer.ggml.tokens"))
        }
        let rankCount = tokens.count - specials
        var unicodeToByte: [Unicode.Scalar: UInt8] = [:]
        for (byte, scalar) in ByteLevelText.byteToUnicode.enumerated() { unicodeToByte[scalar] = UInt8(byte) }
        var file: [UInt8] = []
        for rank in 0..<rankCount {
            guard types[rank] != 3 else {
                throw InputError(
                    .malformed, "token \(rank) is a control token inside the byte-level ranks", at: .key("tokenizer.ggml.token_type"))
            }
            var bytes: [UInt8] = []
            for scalar in tokens[rank].unicodeScalars {
                guard let byte = unicodeToByte[scalar] else {
                    throw InputError(
                        .malformed,
                        "token \(rank) '\(tokens[rank].prefix(40))' is not in GPT-2 byte form", at: .key("tokenizer.ggml.tokens"))
                }
                bytes.append(byte)
            }
            file += Array(Base64.encode(bytes).utf8) + Array(" \(rank)\n".utf8)
        }
        let names = Array(tokens[rankCount...])
        let set = Llama3Tokenizer.SpecialTokenSet.allCases.first { $0.names == names } ?? .llama3_2
        return try Llama3Tokenizer(parsing: file, specialTokens: set)
    }

    static func sentencePiece(tokens: [String], scores: [Float], types: [Int], ids: (unk: Int, bos: Int, eos: Int)) throws
        -> SentencePieceTokenizer
    {
        var proto = ProtobufWriter()
        for index in tokens.indices {
            var piece = ProtobufWriter()
            piece.bytes(1, Array(tokens[index].utf8))
            piece.fixed32(2, scores[index].bitPattern)
            piece.varint(3, UInt64(max(types[index], 0)))
            proto.bytes(1, piece.output)
        }
        var trainer = ProtobufWriter()
        trainer.varint(3, 2)  // BPE
        trainer.varint(35, types.contains(6) ? 1 : 0)  // byte_fallback
        trainer.varint(40, UInt64(ids.unk))
        trainer.varint(41, UInt64(ids.bos))
        trainer.varint(42, UInt64(ids.eos))
        trainer.varint(43, UInt64(bitPattern: -1))
        proto.bytes(2, trainer.output)
        var normalizer = ProtobufWriter()
        normalizer.bytes(1, Array("identity".utf8))
        normalizer.varint(3, 1)  // add_dummy_prefix
        normalizer.varint(4, 0)  // remove_extra_whitespaces
        normalizer.varint(5, 1)  // escape_whitespaces
        proto.bytes(3, normalizer.output)
        return try SentencePieceTokenizer(parsing: proto.output)
    }

    private static func array(_ file: GGUFFile, _ key: String) throws -> [GGUFValue] {
        guard case .array(_, let items)? = file.value(key) else { throw InputError(.missing, "missing or not an array", at: .key(key)) }
        return items
    }

    private static func strings(_ file: GGUFFile, _ key: String) throws -> [String] {
        try array(file, key).map {
            guard case .string(let s) = $0 else { throw InputError(.mismatch, "expected strings", at: .key(key), file: file.path) }
            return s
        }
    }

    private static func integers(_ file: GGUFFile, _ key: String, count: Int) throws -> [Int] {
        let values = try array(file, key).map { value -> Int in
            switch value {
            case .i32(let v): return Int(v)
            case .u32(let v): return Int(v)
            default: throw InputError(.mismatch, "expected integers", at: .key(key))
            }
        }
        guard values.count == count else {
            throw InputError(.mismatch, "has \(values.count) entries, expected \(count) (one per token)", at: .key(key))
        }
        return values
    }

    private static func floats(_ file: GGUFFile, _ key: String, count: Int) throws -> [Float] {
        let values = try array(file, key).map { value -> Float in
            guard case .f32(let v) = value else { throw InputError(.mismatch, "expected f32 values", at: .key(key)) }
            return v
        }
        guard values.count == count else {
            throw InputError(.mismatch, "has \(values.count) entries, expected \(count) (one per token)", at: .key(key))
        }
        return values
    }

    private static func id(_ file: GGUFFile, _ key: String) throws -> Int? {
        switch file.value(key) {
        case nil: return nil
        case .u32(let v)?: return Int(v)
        case .i32(let v)?: return Int(v)
        default: throw InputError(.mismatch, "expected a u32 token id", at: .key(key))
        }
    }
}

/// Just enough protobuf writing to hand a `ModelProto` to the sentencepiece reader.
struct ProtobufWriter {
    private(set) var output: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            output.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        rawVarint(UInt64(field << 3))
        rawVarint(value)
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        rawVarint(UInt64(field << 3 | 5))
        withUnsafeBytes(of: value.littleEndian) { output += $0 }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(value.count))
        output += value
    }
}
