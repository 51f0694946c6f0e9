import BinaryIO

/// Opens a `tokenizer.model` of either format (`TokenizerFormat.detect`), a Hugging Face
/// `tokenizer.json`, or a directory holding one.
public enum TokenizerLoader {
    /// A file whose first non-space byte is `{` is read as tokenizer.json (with the
    /// `tokenizer_config.json` beside it, if any); a directory as its tokenizer.json.
    /// - Parameter specialTokens: the Llama 3 release whose special-token names to use for a
    ///   `tokenizer.model` (a tokenizer.json names its own).
    /// - Throws: `InputError` naming the file for unreadable, unknown or corrupt files.
    public static func load(path: String, specialTokens: Llama3Tokenizer.SpecialTokenSet = .llama3_2) throws -> any Tokenizer {
        if FileSystem.kind(of: path) == .directory { return try HFTokenizerJSON.load(directory: path).tokenizer }
        let bytes = try FileSystem.read(path, limit: max(TiktokenRanks.maxFileBytes, HFTokenizerJSON.maxFileBytes))
        if HFTokenizerJSON.looksLikeJSON(bytes.prefix(4096)) { return try HFTokenizerJSON.load(path: path).tokenizer }
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
