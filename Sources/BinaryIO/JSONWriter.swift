/// Writes a `JSONValue` as UTF-8 text, members in their stored order, so the same value always
/// gives the same bytes (outputs are deterministic).
public enum JSONWriter {
    public enum Style: Sendable {
        /// No whitespace: safetensors headers.
        case compact
        /// Two-space indentation, one member or element per line: files other tools write the
        /// same way (config.json as Python's json, tokenizer.json as serde_json).
        case pretty
        /// `pretty`, but arrays of integers (shapes, ids) on one line: `--json` output.
        case prettyInlineIntegers
    }

    public static func bytes(_ value: JSONValue, style: Style = .pretty) -> [UInt8] {
        var out: [UInt8] = []
        write(value, style: style, indent: 0, into: &out)
        if style != .compact { out.append(0x0A) }
        return out
    }

    public static func string(_ value: JSONValue, style: Style = .pretty) -> String {
        String(decoding: bytes(value, style: style), as: UTF8.self)
    }

    private static func write(_ value: JSONValue, style: Style, indent: Int, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .double(let number): out.append(contentsOf: text(of: number).utf8)
        case .string(let text): writeString(text, into: &out)
        case .array(let elements) where style == .prettyInlineIntegers && !elements.isEmpty && elements.allSatisfy({ $0.integer != nil }):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(contentsOf: ", ".utf8) }
                write(element, style: style, indent: indent, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .array(let elements):
            writeContainer(open: "[", close: "]", count: elements.count, style: style, indent: indent, into: &out) { i, out in
                write(elements[i], style: style, indent: indent + 1, into: &out)
            }
        case .object(let object):
            writeContainer(open: "{", close: "}", count: object.count, style: style, indent: indent, into: &out) { i, out in
                writeString(object.members[i].key, into: &out)
                out.append(contentsOf: (style == .compact ? ":" : ": ").utf8)
                write(object.members[i].value, style: style, indent: indent + 1, into: &out)
            }
        }
    }

    private static func writeContainer(
        open: Unicode.Scalar, close: Unicode.Scalar, count: Int, style: Style, indent: Int, into out: inout [UInt8],
        element: (Int, inout [UInt8]) -> Void
    ) {
        out.append(UInt8(ascii: open))
        guard count > 0 else {
            out.append(UInt8(ascii: close))
            return
        }
        for i in 0..<count {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            newline(style: style, indent: indent + 1, into: &out)
            element(i, &out)
        }
        newline(style: style, indent: indent, into: &out)
        out.append(UInt8(ascii: close))
    }

    private static func newline(style: Style, indent: Int, into out: inout [UInt8]) {
        guard style != .compact else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: 2 * indent))
    }

    /// Shortest text that reads back as the same Double; integral values keep a ".0" so they
    /// read back as numbers with a fraction, as Python's json writes them. JSON has no infinity
    /// or NaN: those are written as null.
    static func text(of number: Double) -> String {
        number.isFinite ? number.description : "null"
    }

    private static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
