import BinaryIO

/// A JSON value written in the order it is built: `--json` output keeps the documented key
/// order (`format`, `files`, `tensors`, …) and costs no reflection at startup. Written by
/// `BinaryIO.JSONWriter`, like every JSON file LlamaKit writes.
enum JSONOutput {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONOutput])
    case object([(String, JSONOutput)])

    static func optional(_ value: JSONOutput?) -> JSONOutput { value ?? .null }

    var value: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .integer(number)
        case .double(let number): return .double(number)
        case .string(let text): return .string(text)
        case .array(let items): return .array(items.map(\.value))
        case .object(let members): return .object(JSONObject(members.map { ($0, $1.value) }))
        }
    }

    /// Pretty-printed with two-space indentation; arrays of integers stay on one line.
    func rendered() -> String {
        String(decoding: JSONWriter.bytes(value, style: .prettyInlineIntegers).dropLast(), as: UTF8.self)
    }
}
