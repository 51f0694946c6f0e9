import BinaryIO

extension GGUFValue {
    /// `text` as a value of `type`, as `llamakit edit --set` reads it (`docs/commands.md`, "edit"):
    /// a string is the text itself; integers are decimal and must fit the type; floats must be
    /// finite; bools are `true` or `false`; an array is a JSON array whose elements are written
    /// as the scalar would be (strings as JSON strings).
    /// - Throws: `InputError` at `.key(key)` naming the type and the value that does not parse.
    public init(parsing text: String, as type: GGUFTypeSpec, key: String) throws {
        switch type {
        case .scalar(.string): self = .string(text)
        case .scalar(let scalar):
            guard let value = Self.scalar(text, scalar) else { throw Self.refusal(text, type, Self.expectation(scalar), key: key) }
            self = value
        case .array(let element): self = .array(element, try Self.elements(text, element, type: type, key: key))
        }
    }

    /// A non-string scalar from its literal text, or nil when the text is not one or does not fit.
    private static func scalar(_ text: String, _ type: GGUFValueType) -> GGUFValue? {
        switch type {
        case .u8: return UInt8(text).map(GGUFValue.u8)
        case .i8: return Int8(text).map(GGUFValue.i8)
        case .u16: return UInt16(text).map(GGUFValue.u16)
        case .i16: return Int16(text).map(GGUFValue.i16)
        case .u32: return UInt32(text).map(GGUFValue.u32)
        case .i32: return Int32(text).map(GGUFValue.i32)
        case .u64: return UInt64(text).map(GGUFValue.u64)
        case .i64: return Int64(text).map(GGUFValue.i64)
        case .f32: return Float(text).flatMap { $0.isFinite ? .f32($0) : nil }
        case .f64: return Double(text).flatMap { $0.isFinite ? .f64($0) : nil }
        case .bool: return text == "true" ? .bool(true) : text == "false" ? .bool(false) : nil
        case .string: return .string(text)
        case .array: return nil
        }
    }

    /// What a literal of `type` must be, for messages.
    private static func expectation(_ type: GGUFValueType) -> String {
        switch type {
        case .u8: return "an integer from 0 to \(UInt8.max)"
        case .i8: return "an integer from \(Int8.min) to \(Int8.max)"
        case .u16: return "an integer from 0 to \(UInt16.max)"
        case .i16: return "an integer from \(Int16.min) to \(Int16.max)"
        case .u32: return "an integer from 0 to \(UInt32.max)"
        case .i32: return "an integer from \(Int32.min) to \(Int32.max)"
        case .u64: return "an integer from 0 to \(UInt64.max)"
        case .i64: return "an integer from \(Int64.min) to \(Int64.max)"
        case .f32: return "a finite number within ±\(Float.greatestFiniteMagnitude)"
        case .f64: return "a finite number within ±\(Double.greatestFiniteMagnitude)"
        case .bool: return "true or false"
        case .string: return "a JSON string"
        case .array: return "a scalar"
        }
    }

    private static func refusal(_ text: String, _ type: GGUFTypeSpec, _ expected: String, key: String) -> InputError {
        let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return InputError(.malformed, "value '\(shown)' does not parse as \(type) (expected \(expected))", at: .key(key))
    }

    /// The elements of a JSON array. Numbers and bools are converted from their literal text, so
    /// a u64 above 2⁶³ or an f32 stays exact (a JSON parser would round them through Double).
    private static func elements(_ text: String, _ element: GGUFValueType, type: GGUFTypeSpec, key: String) throws -> [GGUFValue] {
        let json: JSONValue
        do {
            json = try JSONParser.parse(Array(text.utf8))
        } catch let error as InputError {
            throw refusal(text, type, "a JSON array: \(error.message) at byte \(Self.offset(error))", key: key)
        }
        guard let items = json.array else { throw refusal(text, type, "a JSON array, found \(json.kindName)", key: key) }
        let literals = element == .string ? [] : Self.literals(text)
        return try items.enumerated().map { index, item in
            if element == .string {
                guard let string = item.string else {
                    throw refusal(text, type, "element \(index) to be a JSON string, found \(item.kindName)", key: key)
                }
                return .string(string)
            }
            guard item.number != nil || item.bool != nil else {
                throw refusal(text, type, "element \(index) to be \(expectation(element)), found \(item.kindName)", key: key)
            }
            // Every element before this one was a number or a bool, so the literals line up.
            guard let value = scalar(literals[index], element) else {
                throw refusal(text, type, "element \(index) to be \(expectation(element)), found \(literals[index])", key: key)
            }
            return value
        }
    }

    private static func offset(_ error: InputError) -> Int {
        if case .byteOffset(let offset) = error.location { return offset }
        return 0
    }

    /// The element texts of a JSON array that holds no strings, arrays or objects: nothing
    /// inside a number, bool or null contains a comma or a bracket.
    private static func literals(_ text: String) -> [String] {
        let whitespace: Set<Character> = [" ", "\t", "\n", "\r"]
        let inner = text.drop { $0 != "[" }.dropFirst().prefix { $0 != "]" }
        guard inner.contains(where: { !whitespace.contains($0) }) else { return [] }
        return inner.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0.drop { whitespace.contains($0) }.reversed().drop { whitespace.contains($0) }.reversed())
        }
    }
}
