import Testing

@testable import BinaryIO

@Suite struct JSONTests {
    static let valid: [(String, JSONValue)] = [
        ("0", .integer(0)),
        ("-12", .integer(-12)),
        ("9223372036854775807", .integer(Int.max)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808)),
        ("1.5e3", .double(1500)),
        ("1E-5", .double(1e-5)),
        (" true ", .bool(true)),
        ("null", .null),
        (#""a\"\\\/\b\f\n\r\t""#, .string("a\"\\/\u{8}\u{c}\n\r\t")),
        (#""\u00e9\u20ac\ud83d\ude00""#, .string("é€😀")),
        ("\"é€😀\"", .string("é€😀")),
        ("[]", .array([])),
        ("[1, [2], {}]", .array([.integer(1), .array([.integer(2)]), .object(JSONObject())])),
        (#"{"b": 1, "a": [true, null]}"#, .object(JSONObject([("b", .integer(1)), ("a", .array([.bool(true), .null]))]))),
    ]

    @Test(arguments: valid.indices)
    func parsesValidText(_ i: Int) throws {
        let (text, expected) = Self.valid[i]
        #expect(try JSONParser.parse(Array(text.utf8)) == expected)
    }

    /// JSON keys are byte strings: canonically equivalent Unicode is two keys, not a repeat.
    @Test func canonicallyEquivalentKeysAreDistinct() throws {
        let value = try JSONParser.parse(Array("{\"\u{E9}\": 1, \"e\u{301}\": 2}".utf8))
        #expect(value.object?.count == 2)
        #expect(value.object?["\u{E9}"] == .integer(1))
        #expect(value.object?["e\u{301}"] == .integer(2))
    }

    @Test func objectsKeepFileOrder() throws {
        let value = try JSONParser.parse(Array(#"{"z": 1, "a": 2, "m": 3}"#.utf8))
        #expect(value.object?.keys == ["z", "a", "m"])
    }

    static let invalid: [(bytes: [UInt8], kind: InputError.Kind, offset: Int)] = [
        (Array(#"{"a": 1, "a": 2}"#.utf8), .mismatch, 9),
        (Array("[1, 2".utf8), .truncated, 5),
        (Array("[1 2]".utf8), .malformed, 3),
        (Array("01".utf8), .malformed, 0),
        (Array("1.".utf8), .truncated, 2),
        (Array("-".utf8), .truncated, 1),
        (Array("1e999".utf8), .outOfRange, 0),
        (Array("NaN".utf8), .malformed, 0),
        (Array("[1,]".utf8), .malformed, 3),
        (Array("{\"a\" 1}".utf8), .malformed, 5),
        (Array("tru".utf8), .truncated, 0),
        (Array("trUe".utf8), .malformed, 0),
        (Array("1 2".utf8), .malformed, 2),
        (Array("\"a\nb\"".utf8), .malformed, 2),
        ([0x22, 0xC3, 0x28, 0x22], .malformed, 1),
        ([0x22, 0x5C, 0x75, 0x44, 0x38, 0x30, 0x30, 0x22], .malformed, 1),
        (Array(#""\ud800\u0041""#.utf8), .malformed, 1),
        (Array(#""\x""#.utf8), .malformed, 1),
        (Array(repeating: UInt8(ascii: "["), count: 65) + Array(repeating: UInt8(ascii: "]"), count: 65), .overLimit, 64),
        ([], .truncated, 0),
    ]

    @Test(arguments: invalid.indices)
    func refusesInvalidTextWithKindAndOffset(_ i: Int) throws {
        let (bytes, kind, offset) = Self.invalid[i]
        let error = #expect(throws: InputError.self) { try JSONParser.parse(bytes, baseOffset: 100) }
        #expect(error?.kind == kind)
        #expect(error?.location == .byteOffset(100 + offset))
    }

    @Test func nestingUpToTheCapIsAccepted() throws {
        let text = Array(repeating: UInt8(ascii: "["), count: 64) + Array(repeating: UInt8(ascii: "]"), count: 64)
        #expect(throws: Never.self) { try JSONParser.parse(text) }
    }

    @Test(arguments: [JSONWriter.Style.compact, .pretty, .prettyInlineIntegers])
    func writtenTextParsesBackToTheSameValue(_ style: JSONWriter.Style) throws {
        for (_, value) in Self.valid {
            let wrapped = JSONValue.object(JSONObject([("k\"\u{1}", value), ("list", .array([value, .double(0.1), .double(-0.0)]))]))
            #expect(try JSONParser.parse(JSONWriter.bytes(wrapped, style: style)) == wrapped)
        }
    }

    @Test func writesCompactAndPrettyForms() {
        let value = JSONValue.object(
            JSONObject([
                ("a", .array([.integer(1), .double(1e-5)])), ("b", .object(JSONObject())), ("c", .string("é\n")),
                ("ids", .array([.integer(1), .integer(2)])),
            ]))
        #expect(JSONWriter.string(value, style: .compact) == #"{"a":[1,1e-05],"b":{},"c":"é\n","ids":[1,2]}"#)
        #expect(
            JSONWriter.string(value, style: .prettyInlineIntegers)
                == "{\n  \"a\": [\n    1,\n    1e-05\n  ],\n  \"b\": {},\n  \"c\": \"é\\n\",\n  \"ids\": [1, 2]\n}\n")
        #expect(
            JSONWriter.string(value, style: .pretty)
                == "{\n  \"a\": [\n    1,\n    1e-05\n  ],\n  \"b\": {},\n  \"c\": \"é\\n\",\n  \"ids\": [\n    1,\n    2\n  ]\n}\n")
    }
}
