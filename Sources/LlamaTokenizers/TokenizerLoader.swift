import BinaryIO

/// Opens a `tokenizer.model` of either format (`TokenizerFormat.detect`).
public enum TokenizerLoader {
    /// - Parameter specialTokens: the Llama 3 release whose special-token names to use.
    /// - Throws: `InputError` naming the file for unreadable, unknown or corrupt files.
    public static func load(path: String, specialTokens: Llama3Tokenizer.SpecialTokenSet = .llama3_2) throws -> any Tokenizer {
        let bytes = try FileSystem.read(path, limit: TiktokenRanks.maxFileBytes)
        return try attributing(to: path) {
            switch try TokenizerFormat.detect(Array(bytes.prefix(4096))) {
            case .tiktoken:
                return try Llama3Tokenizer(parsing: bytes, specialTokens: specialTokens)
            case .sentencepiece:
                return try SentencePieceTokenizer(parsing: bytes)
            }
        }
    }
}
