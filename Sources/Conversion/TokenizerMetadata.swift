import GGUF
import LlamaTokenizers

/// The `tokenizer.ggml.*` keys llama.cpp reads (`docs/formats.md` §3.8).
public enum TokenizerMetadata {
    /// Merges rebuilt from the ranks as transformers' TikTokenConverter does: for every token of
    /// two or more bytes, every split into two tokens, ordered by (rank(a), rank(b)), all
    /// candidates stably ordered by the token's rank. `tokens` are the ranks' GPT-2 strings.
    public static func llama3Merges(_ ranks: TiktokenRanks, tokens: [String]? = nil) -> [String] {
        let tokens = tokens ?? (0..<ranks.count).map { ByteLevelText.string(ranks.bytes(of: $0)) }
        var merges: [String] = []
        var splits: [(Int32, Int32)] = []
        for rank in 0..<ranks.count {
            let token = ranks.bytes(of: rank)
            guard token.count >= 2 else { continue }
            splits.removeAll(keepingCapacity: true)
            for cut in (token.startIndex + 1)..<token.endIndex {
                if let left = ranks.rank(token[token.startIndex..<cut]), let right = ranks.rank(token[cut..<token.endIndex]) {
                    splits.append((left, right))
                }
            }
            splits.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            for (left, right) in splits { merges.append(tokens[Int(left)] + " " + tokens[Int(right)]) }
        }
        return merges
    }

    /// Llama 3 (tiktoken) → `gpt2` with the `llama-bpe` pre-tokenizer; for an instruct model the
    /// eos id is end-of-turn, as llama.cpp's converter takes it from Meta's instruct releases.
    public static func llama3(_ tokenizer: Llama3Tokenizer, instruct: Bool = false) -> [(String, GGUFValue)] {
        let ranks = tokenizer.ranks
        let strings = (0..<ranks.count).map { ByteLevelText.string(ranks.bytes(of: $0)) }
        let tokens = (strings + tokenizer.specialTokens.names).map { GGUFValue.string($0) }
        let types: [GGUFValue] = [GGUFValue](repeating: .i32(1), count: ranks.count) + [GGUFValue](repeating: .i32(3), count: 256)
        var out: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("llama-bpe")),
            ("tokenizer.ggml.tokens", .array(.string, tokens)),
            ("tokenizer.ggml.token_type", .array(.i32, types)),
            ("tokenizer.ggml.merges", .array(.string, llama3Merges(ranks, tokens: strings).map { .string($0) })),
            ("tokenizer.ggml.bos_token_id", .u32(UInt32(tokenizer.bosID))),
            (
                "tokenizer.ggml.eos_token_id",
                .u32(UInt32(instruct ? tokenizer.specialID("<|eot_id|>") ?? tokenizer.eosID : tokenizer.eosID))
            ),
        ]
        if let eot = tokenizer.specialID("<|eot_id|>") { out.append(("tokenizer.ggml.eot_token_id", .u32(UInt32(eot)))) }
        if let eom = tokenizer.specialID("<|eom_id|>") { out.append(("tokenizer.ggml.eom_token_id", .u32(UInt32(eom)))) }
        out.append(("tokenizer.ggml.add_bos_token", .bool(true)))
        return out
    }

    /// Llama 1/2 (sentencepiece) → `llama`: pieces, scores and types verbatim.
    public static func llama2(_ tokenizer: SentencePieceTokenizer) -> [(String, GGUFValue)] {
        let pieces = tokenizer.model.pieces
        var out: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(.string, pieces.map { .string(String(decoding: $0.bytes, as: UTF8.self)) })),
            ("tokenizer.ggml.scores", .array(.f32, pieces.map { .f32($0.score) })),
            ("tokenizer.ggml.token_type", .array(.i32, pieces.map { .i32(Int32($0.type.rawValue)) })),
            ("tokenizer.ggml.bos_token_id", .u32(UInt32(tokenizer.model.bosID))),
            ("tokenizer.ggml.eos_token_id", .u32(UInt32(tokenizer.model.eosID))),
            ("tokenizer.ggml.unknown_token_id", .u32(UInt32(tokenizer.model.unkID))),
        ]
        if tokenizer.model.padID >= 0 { out.append(("tokenizer.ggml.padding_token_id", .u32(UInt32(tokenizer.model.padID)))) }
        out += [("tokenizer.ggml.add_bos_token", .bool(true)), ("tokenizer.ggml.add_eos_token", .bool(false))]
        return out
    }
}
