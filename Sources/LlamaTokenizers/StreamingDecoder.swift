/// Text of a growing token sequence, handed out piece by piece as it becomes printable: a
/// character split across tokens (a multi-byte UTF-8 sequence made of byte tokens) is held
/// back until the token that completes it, so a stream never shows U+FFFD for it.
public struct StreamingDecoder {
    private let tokenizer: any Tokenizer
    private var ids: [Int] = []
    private var printed = ""

    public init(_ tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds `id`; returns the text that can be shown now (possibly empty).
    /// - Throws: `InputError` for an id outside the vocabulary.
    public mutating func append(_ id: Int) throws -> String {
        ids.append(id)
        let text = try tokenizer.decode(ids)
        guard text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") else { return "" }
        defer { printed = text }
        return String(text.dropFirst(printed.count))
    }

    /// The rest of the text once the sequence is complete (held-back bytes as the tokenizer
    /// decodes them).
    public mutating func finish() throws -> String {
        let text = try tokenizer.decode(ids)
        guard printed != text else { return "" }
        defer { printed = text }
        return String(text.dropFirst(printed.count))
    }
}
