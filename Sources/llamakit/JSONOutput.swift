/// A JSON value written in the order it is built: `--json` output keeps the documented key
/// order (`format`, `files`, `tensors`, …) and costs no reflection at startup.
enum JSONOutput {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONOutput])
    case object([(String, JSONOutput)])

    static func optional(_ value: JSONOutput?) -> JSONOutput { value ?? .null }

    /// Pretty-printed with two-space indentation; arrays of numbers stay on one line.
    func rendered() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        write(into: &out, depth: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private static func indent(_ out: inout [UInt8], _ depth: Int) {
        out.append(contentsOf: repeatElement(0x20, count: 2 * depth))
    }

    private func write(into out: inout [UInt8], depth: Int) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let flag): out += Array((flag ? "true" : "false").utf8)
        case .int(let number): out += Array(String(number).utf8)
        case .double(let number): out += Array((number.isFinite ? number.description : "null").utf8)
        case .string(let text): Self.escape(text, into: &out)
        case .array(let items):
            if items.isEmpty {
                out += [0x5B, 0x5D]
            } else if items.allSatisfy({ if case .int = $0 { return true } else { return false } }) {
                out.append(0x5B)
                for (index, item) in items.enumerated() {
                    if index > 0 { out += [0x2C, 0x20] }
                    item.write(into: &out, depth: depth)
                }
                out.append(0x5D)
            } else {
                out += [0x5B, 0x0A]
                for (index, item) in items.enumerated() {
                    Self.indent(&out, depth + 1)
                    item.write(into: &out, depth: depth + 1)
                    if index + 1 < items.count { out.append(0x2C) }
                    out.append(0x0A)
                }
                Self.indent(&out, depth)
                out.append(0x5D)
            }
        case .object(let members):
            if members.isEmpty {
                out += [0x7B, 0x7D]
                return
            }
            out += [0x7B, 0x0A]
            for (index, (key, value)) in members.enumerated() {
                Self.indent(&out, depth + 1)
                Self.escape(key, into: &out)
                out += [0x3A, 0x20]
                value.write(into: &out, depth: depth + 1)
                if index + 1 < members.count { out.append(0x2C) }
                out.append(0x0A)
            }
            Self.indent(&out, depth)
            out.append(0x7D)
        }
    }

    private static func escape(_ text: String, into out: inout [UInt8]) {
        out.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}
