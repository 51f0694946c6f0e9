import BinaryIO

/// The two `tokenizer.model` formats Meta ships (`docs/formats.md` §5).
public enum TokenizerFormat: String, Sendable, Codable {
    /// Llama 3.x: text lines `base64-token rank`.
    case tiktoken
    /// Llama 1/2: a binary sentencepiece `ModelProto`.
    case sentencepiece

    /// Tells the format from the first bytes of the file.
    /// - Throws: `InputError` when the bytes are neither format.
    public static func detect(_ head: [UInt8]) throws -> TokenizerFormat {
        guard let first = head.first else { throw InputError(.missing, "the tokenizer file is empty") }
        // A ModelProto starts with field 1 (pieces), wire type 2: tag byte 0x0A.
        if first == 0x0A { return .sentencepiece }
        let line = head.prefix { $0 != 0x0A }
        if let space = line.firstIndex(of: 0x20), space > line.startIndex,
            line[..<space].allSatisfy(Self.isBase64),
            line[(space + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), space + 1 < line.endIndex
        {
            return .tiktoken
        }
        throw InputError(
            .malformed,
            "not a tokenizer.model: neither a sentencepiece model (first byte 0x0A) nor tiktoken ranks ('base64 rank' lines)",
            at: .byteOffset(0))
    }

    static func isBase64(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2B || byte == 0x2F || byte == 0x3D
    }
}
