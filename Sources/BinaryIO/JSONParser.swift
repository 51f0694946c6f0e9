/// A strict JSON parser for untrusted files (RFC 8259): UTF-8 validated, nesting capped, repeated
/// object keys refused, every error an `InputError` with the byte offset where parsing stopped.
///
/// Foundation's decoders keep the last of two equal keys and accept a few extensions; readers of
/// hostile headers need to see exactly what the bytes say.
public struct JSONParser {
    /// Deepest nesting accepted; real headers and tokenizer files nest fewer than 10 levels.
    public static let defaultMaxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private let baseOffset: Int
    private let maxDepth: Int
    private var position = 0

    private init(_ bytes: UnsafeRawBufferPointer, baseOffset: Int, maxDepth: Int) {
        self.bytes = bytes
        self.baseOffset = baseOffset
        self.maxDepth = maxDepth
    }

    /// Parses one JSON document filling all of `bytes` (whitespace around it allowed).
    /// - Parameter baseOffset: the file offset of `bytes[0]`, so errors name file offsets.
    /// - Throws: `InputError` (.malformed for syntax and encoding, .mismatch for a repeated key,
    ///   .overLimit for nesting, .truncated when the text ends inside a value).
    public static func parse(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        var parser = JSONParser(bytes, baseOffset: baseOffset, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error(.malformed, "unexpected text after the JSON value") }
        return value
    }

    /// Parses `bytes` as one JSON document.
    /// - Throws: `InputError` as `parse(_:baseOffset:maxDepth:)`.
    public static func parse(_ bytes: [UInt8], baseOffset: Int = 0, maxDepth: Int = defaultMaxDepth) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, baseOffset: baseOffset, maxDepth: maxDepth) }
    }

    private func error(_ kind: InputError.Kind, _ message: String, at offset: Int? = nil) -> InputError {
        InputError(kind, message, at: .byteOffset(baseOffset + (offset ?? position)))
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func peek() throws -> UInt8 {
        guard position < bytes.count else { throw error(.truncated, "the JSON text ends inside a value") }
        return bytes[position]
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case let byte: throw error(.malformed, "expected a JSON value, found byte 0x\(String(byte, radix: 16))")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error(.truncated, "the JSON text ends inside '\(literal)'") }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            throw error(.malformed, "expected '\(literal)'")
        }
        position += count
    }

    private mutating func enter(_ depth: Int) throws {
        guard depth <= maxDepth else { throw error(.overLimit, "JSON nests deeper than \(maxDepth) levels") }
        position += 1
        skipWhitespace()
    }

    private mutating func parseObject(depth: Int) throws -> JSONObject {
        try enter(depth)
        var object = JSONObject()
        if try peek() == UInt8(ascii: "}") {
            position += 1
            return object
        }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw error(.malformed, "expected a string key") }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw error(.malformed, "expected ':' after key '\(key)'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            guard object.insert(key, value) else { throw error(.mismatch, "key '\(key)' appears twice in one object", at: keyOffset) }
            guard try separatorContinues(closing: UInt8(ascii: "}")) else { return object }
        }
    }

    private mutating func parseArray(depth: Int) throws -> [JSONValue] {
        try enter(depth)
        var array: [JSONValue] = []
        if try peek() == UInt8(ascii: "]") {
            position += 1
            return array
        }
        while true {
            array.append(try parseValue(depth: depth))
            guard try separatorContinues(closing: UInt8(ascii: "]")) else { return array }
        }
    }

    /// After a member: true on ',' (another follows), false on `closing`.
    private mutating func separatorContinues(closing: UInt8) throws -> Bool {
        skipWhitespace()
        let byte = try peek()
        position += 1
        if byte == closing { return false }
        guard byte == UInt8(ascii: ",") else {
            throw error(.malformed, "expected ',' or '\(Character(Unicode.Scalar(closing)))'", at: position - 1)
        }
        skipWhitespace()
        return true
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard try isDigit(peek()) else { throw error(.malformed, "expected a digit") }
        if bytes[position] == UInt8(ascii: "0"), position + 1 < bytes.count, isDigit(bytes[position + 1]) {
            throw error(.malformed, "a JSON number has no leading zeros")
        }
        skipDigits()
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard try isDigit(peek()) else { throw error(.malformed, "expected a digit after '.'") }
            skipDigits()
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if try peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard try isDigit(peek()) else { throw error(.malformed, "expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw error(.outOfRange, "number \(text) is out of range", at: start) }
        return .double(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while position < bytes.count, isDigit(bytes[position]) { position += 1 }
    }

    private mutating func parseString() throws -> String {
        let start = position + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            position = end + 1
            return try validated(start..<end)
        }
        position = start
        return try parseEscapedString()
    }

    private func validated(_ range: Range<Int>) throws -> String {
        guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw error(.malformed, "string is not valid UTF-8", at: range.lowerBound)
        }
        return text
    }

    /// The slow path: a string with escapes, decoded into bytes then validated once.
    private mutating func parseEscapedString() throws -> String {
        let start = position
        var utf8: [UInt8] = []
        while true {
            let byte = try peek()
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw error(.malformed, "string is not valid UTF-8", at: start)
                }
                return text
            case UInt8(ascii: "\\"): try appendEscape(to: &utf8)
            case 0..<0x20: throw error(.malformed, "control character 0x\(String(byte, radix: 16)) inside a string", at: position - 1)
            default: utf8.append(byte)
            }
        }
    }

    private mutating func appendEscape(to utf8: inout [UInt8]) throws {
        let byte = try peek()
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"): utf8.append(contentsOf: String(Character(try parseUnicodeEscape())).utf8)
        default: throw error(.malformed, "unknown escape '\\\(Character(Unicode.Scalar(byte)))'", at: position - 2)
        }
    }

    /// `XXXX` after `\u`, joining a surrogate pair written as two escapes.
    private mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        let escapeStart = position - 2
        let high = try hexQuad()
        var code = high
        if (0xD800..<0xDC00).contains(high) {
            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw error(.malformed, "a high surrogate escape must be followed by a low one", at: escapeStart)
            }
            position += 2
            let low = try hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw error(.malformed, "invalid low surrogate escape", at: escapeStart) }
            code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw error(.malformed, "lone surrogate escape", at: escapeStart) }
        return scalar
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard bytes.count - position >= 4 else { throw error(.truncated, "the JSON text ends inside a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error(.malformed, "expected a hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
