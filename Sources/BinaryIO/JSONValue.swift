/// A JSON document as untrusted input sees it: objects keep their keys in file order and a
/// repeated key is an error, not a silent overwrite (a safetensors header naming a tensor twice
/// must be refused, `docs/safetensors.md` §2). Numbers keep integer-ness so offsets and shapes
/// stay exact.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var integer: Int? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// Integers and floats alike, as a Double.
    public var number: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var object: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The kind of value, for messages ("expected a string, found an array").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON object's members in file order, with lookup by key. Keys are compared byte for byte
/// (their UTF-8), not as Swift strings: two vocabulary pieces that are canonically equivalent
/// Unicode (`é` and `e` + combining acute) are different keys, as they are in JSON.
public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)] = []
    private var index: [Key: Int] = [:]

    /// A key hashed and compared by its UTF-8 bytes.
    private struct Key: Hashable, Sendable {
        let text: String

        static func == (lhs: Key, rhs: Key) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }

        func hash(into hasher: inout Hasher) {
            for byte in text.utf8 { hasher.combine(byte) }
        }
    }

    public init() {}

    /// Builds an object from pairs in order; a repeated key is a programmer error.
    public init(_ pairs: [(String, JSONValue)]) {
        for (key, value) in pairs { precondition(insert(key, value), "duplicate JSON key '\(key)'") }
    }

    public var count: Int { members.count }
    public var keys: [String] { members.map(\.key) }

    public subscript(key: String) -> JSONValue? {
        index[Key(text: key)].map { members[$0].value }
    }

    /// Appends `key`; returns false (and changes nothing) when the key is already present.
    @discardableResult
    public mutating func insert(_ key: String, _ value: JSONValue) -> Bool {
        guard index[Key(text: key)] == nil else { return false }
        index[Key(text: key)] = members.count
        members.append((key, value))
        return true
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count
            && zip(lhs.members, rhs.members).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value }
    }
}
