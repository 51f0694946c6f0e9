import BinaryIO
import GGUF
import LlamaTokenizers

/// The tokenizer a GGUF file carries, rebuilt from its `tokenizer.ggml.*` keys — the inverse of
/// `Conversion.TokenizerMetadata` (`docs/formats.md` §3.8).
///
/// `gpt2` (Llama 3): tokens are GPT-2 byte-to-unicode strings whose id is their rank; the last
/// 256 are the specials. They become a ranks table with the same checks as Meta's file
/// (`TiktokenRanks(tokens:)`, shared with tokenizer.json).
/// `llama` (Llama 1/2): tokens, scores and types become a sentencepiece model with Llama 2's
/// options (`SentencePieceModel(llamaBPE:…)`: BPE, byte fallback, dummy prefix, no whitespace folding).
public enum GGUFTokenizer {
    /// - Throws: `InputError` naming the key that is missing or malformed.
    public static func load(from file: GGUFSplitSet) throws -> any Tokenizer {
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
        var rankBytes: [[UInt8]] = []
        rankBytes.reserveCapacity(rankCount)
        for rank in 0..<rankCount {
            guard types[rank] != 3 else {
                throw InputError(
                    .malformed, "token \(rank) is a control token inside the byte-level ranks", at: .key("tokenizer.ggml.token_type"))
            }
            guard let bytes = ByteLevelText.bytes(tokens[rank]) else {
                throw InputError(
                    .malformed, "token \(rank) '\(tokens[rank].prefix(40))' is not in GPT-2 byte form", at: .key("tokenizer.ggml.tokens"))
            }
            rankBytes.append(bytes)
        }
        let ranks: TiktokenRanks
        do {
            ranks = try TiktokenRanks(tokens: rankBytes)
        } catch var error as InputError {
            error.location = .key("tokenizer.ggml.tokens")
            throw error
        }
        let set = Llama3Tokenizer.SpecialTokenSet(names: Array(tokens[rankCount...])) ?? .llama3_2
        return Llama3Tokenizer(ranks: ranks, specialTokens: set)
    }

    static func sentencePiece(tokens: [String], scores: [Float], types: [Int], ids: (unk: Int, bos: Int, eos: Int)) throws
        -> SentencePieceTokenizer
    {
        var pieces: [SentencePieceModel.Piece] = []
        pieces.reserveCapacity(tokens.count)
        for index in tokens.indices {
            guard let type = SentencePieceModel.PieceType(rawValue: UInt64(max(types[index], 0))) else {
                throw InputError(.malformed, "token \(index) has unknown type \(types[index])", at: .key("tokenizer.ggml.token_type"))
            }
            pieces.append(SentencePieceModel.Piece(bytes: Array(tokens[index].utf8), score: scores[index], type: type))
        }
        let model = try SentencePieceModel(
            llamaBPE: pieces, unkID: ids.unk, bosID: ids.bos, eosID: ids.eos, byteFallback: types.contains(6))
        return try SentencePieceTokenizer(model: model)
    }

    private static func array(_ file: GGUFSplitSet, _ key: String) throws -> [GGUFValue] {
        guard case .array(_, let items)? = file.value(key) else { throw InputError(.missing, "missing or not an array", at: .key(key)) }
        return items
    }

    private static func strings(_ file: GGUFSplitSet, _ key: String) throws -> [String] {
        try array(file, key).map {
            guard case .string(let s) = $0 else { throw InputError(.mismatch, "expected strings", at: .key(key), file: file.path) }
            return s
        }
    }

    private static func integers(_ file: GGUFSplitSet, _ key: String, count: Int) throws -> [Int] {
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

    private static func floats(_ file: GGUFSplitSet, _ key: String, count: Int) throws -> [Float] {
        let values = try array(file, key).map { value -> Float in
            guard case .f32(let v) = value else { throw InputError(.mismatch, "expected f32 values", at: .key(key)) }
            return v
        }
        guard values.count == count else {
            throw InputError(.mismatch, "has \(values.count) entries, expected \(count) (one per token)", at: .key(key))
        }
        return values
    }

    private static func id(_ file: GGUFSplitSet, _ key: String) throws -> Int? {
        switch file.value(key) {
        case nil: return nil
        case .u32(let v)?: return Int(v)
        case .i32(let v)?: return Int(v)
        default: throw InputError(.mismatch, "expected a u32 token id", at: .key(key))
        }
    }
}
