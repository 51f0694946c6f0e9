/// GPT-2's byte-level spelling of bytes as text, which GGUF files use for Llama 3 vocabularies.
public enum ByteLevelText {
    /// GPT-2's byte-to-unicode map: printable bytes map to themselves, the other 68 bytes in
    /// increasing order to U+0100, U+0101, … (so 0x20 → `Ġ`, 0x0A → `Ċ`).
    public static let byteToUnicode: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 0x100
        for byte in 0..<256 {
            if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// `byteToUnicode` as UTF-8: one or two bytes per input byte.
    private static let byteToUTF8: [[UInt8]] = byteToUnicode.map { Array(String($0).utf8) }

    /// Bytes spelled as GPT-2 byte-level text, as GGUF vocabularies store Llama 3 tokens.
    public static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(bytes.count * 2)
        for byte in bytes { utf8 += byteToUTF8[Int(byte)] }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Scalar value → byte for the 256 scalars of `byteToUnicode` (-1 elsewhere below U+0144).
    private static let unicodeToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in byteToUnicode.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The bytes GPT-2 byte-level text spells, or nil when a scalar is not one of the 256.
    public static func bytes(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            guard value < unicodeToByte.count, unicodeToByte[value] >= 0 else { return nil }
            out.append(UInt8(unicodeToByte[value]))
        }
        return out
    }
}
