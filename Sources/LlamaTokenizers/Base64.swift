/// Strict standard base64 (RFC 4648, `=` padding), as tiktoken's ranks files use.
public enum Base64 {
    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8).enumerated() {
            table[Int(byte)] = Int8(index)
        }
        return table
    }()

    /// Appends the decoded bytes to `out`; false (and `out` partly written) when invalid.
    static func decode(_ text: ArraySlice<UInt8>, appendingTo out: inout [UInt8]) -> Bool {
        guard !text.isEmpty, text.count % 4 == 0 else { return false }
        var index = text.startIndex
        while index < text.endIndex {
            let isLast = index + 4 == text.endIndex
            var bits = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = text[index + offset]
                if byte == 0x3D, isLast, offset >= 2 {
                    padding += 1
                    bits <<= 6
                    continue
                }
                let value = values[Int(byte)]
                guard value >= 0, padding == 0 else { return false }
                bits = bits << 6 | Int(value)
            }
            out.append(UInt8(bits >> 16))
            if padding < 2 { out.append(UInt8(bits >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(bits & 0xFF)) }
            index += 4
        }
        return true
    }

    /// Standard base64 with padding (how tiktoken ranks files spell tokens).
    public static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = Int(bytes[index])
            let b1 = index + 1 < bytes.count ? Int(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? Int(bytes[index + 2]) : 0
            out.append(alphabet[b0 >> 2])
            out.append(alphabet[(b0 & 3) << 4 | b1 >> 4])
            out.append(index + 1 < bytes.count ? alphabet[(b1 & 15) << 2 | b2 >> 6] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[b2 & 63] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
