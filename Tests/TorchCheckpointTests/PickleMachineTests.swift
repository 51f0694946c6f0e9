import BinaryIO
import Testing

@testable import TorchCheckpoint

/// The machine on hand-assembled pickles: accepted opcodes, refused ones, caps.
@Suite struct PickleMachineTests {
    static func unicode(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        let length = UInt32(bytes.count)
        return [0x58] + (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + bytes
    }

    static let refused: [(name: String, bytes: [UInt8], message: String, kind: InputError.Kind)] = [
        ("empty", [], "the pickle ends without STOP", .truncated),
        ("protocol 1", [0x80, 0x01, 0x4E, 0x2E], "pickle protocol 1 is not supported", .unsupported),
        ("protocol 6", [0x80, 0x06, 0x4E, 0x2E], "pickle protocol 6 is not supported", .unsupported),
        ("POP", [0x80, 0x02, 0x4E, 0x30, 0x2E], "POP (0x30) is not allowed", .notAllowed),
        ("DUP", [0x80, 0x02, 0x4E, 0x32, 0x2E], "DUP (0x32) is not allowed", .notAllowed),
        ("EXT1", [0x80, 0x02, 0x82, 0x01, 0x2E], "EXT1 (0x82) is not allowed", .notAllowed),
        ("PERSID", [0x80, 0x02, 0x50] + Array("0\n".utf8) + [0x2E], "PERSID (0x50) is not allowed", .notAllowed),
        ("SHORT_BINUNICODE", [0x80, 0x02, 0x8C, 0x01, 0x61, 0x2E], "SHORT_BINUNICODE (0x8C) is not allowed", .notAllowed),
        ("MEMOIZE", [0x80, 0x02, 0x4E, 0x94, 0x2E], "MEMOIZE (0x94) is not allowed", .notAllowed),
        ("BINBYTES", [0x80, 0x02, 0x42, 0, 0, 0, 0, 0x2E], "BINBYTES (0x42) is not allowed", .notAllowed),
        ("LONG1 9 bytes", [0x80, 0x02, 0x8A, 0x09] + [UInt8](repeating: 1, count: 9) + [0x2E], "LONG1 integer of 9 bytes", .malformed),
        ("bad UTF-8", [0x80, 0x02, 0x58, 1, 0, 0, 0, 0xFF, 0x2E], "not valid UTF-8", .malformed),
        ("STOP with two values", [0x80, 0x02, 0x4E, 0x4E, 0x2E], "STOP with 2 values on the stack", .mismatch),
        ("STOP inside MARK", [0x80, 0x02, 0x28, 0x4E, 0x2E], "STOP with 1 unclosed MARK", .malformed),
        ("TUPLE without MARK", [0x80, 0x02, 0x74, 0x2E], "no MARK to pop to", .missing),
        ("pop through a MARK", [0x80, 0x02, 0x4E, 0x28, 0x85, 0x2E], "stack underflow", .malformed),
        ("APPEND on a dict", [0x80, 0x02, 0x7D, 0x4E, 0x61, 0x2E], "APPEND on a dict, expected a list", .mismatch),
        ("SETITEMS odd", [0x80, 0x02, 0x7D, 0x28, 0x4E, 0x75, 0x2E], "odd number (1)", .malformed),
        ("REDUCE on a string", [0x80, 0x02] + unicode("f") + [0x29, 0x52, 0x2E], "REDUCE on a str", .mismatch),
        (
            "calling a dtype", [0x80, 0x02, 0x63] + Array("torch\nfloat32\n".utf8) + [0x29, 0x52, 0x2E], "torch.float32 cannot be called",
            .notAllowed
        ),
        (
            "OrderedDict with args", [0x80, 0x02, 0x63] + Array("collections\nOrderedDict\n".utf8) + [0x4E, 0x85, 0x52, 0x2E],
            "called with 1 arguments, expected 0", .mismatch
        ),
        ("BUILD on None", [0x80, 0x02, 0x4E, 0x7D, 0x62, 0x2E], "BUILD on a None", .mismatch),
        (
            "global name too long", [0x80, 0x02, 0x63] + [UInt8](repeating: 0x61, count: 300) + [0x0A, 0x61, 0x0A, 0x2E],
            "longer than 256 bytes", .overLimit
        ),
        ("global without newline", [0x80, 0x02, 0x63, 0x61], "has no terminating newline", .truncated),
        (
            "NEWOBJ of OrderedDict", [0x80, 0x02, 0x63] + Array("collections\nOrderedDict\n".utf8) + [0x29, 0x81, 0x2E],
            "NEWOBJ is only allowed", .notAllowed
        ),
        ("list as dict key", [0x80, 0x02, 0x7D, 0x5D, 0x4E, 0x73, 0x2E], "dict key of type list", .notAllowed),
        ("persistent id not a tuple", [0x80, 0x02, 0x4E, 0x51, 0x2E], "persistent id is a None", .mismatch),
    ]

    @Test(arguments: refused)
    func refusesWithOffsetAndReason(_ sample: (name: String, bytes: [UInt8], message: String, kind: InputError.Kind)) {
        let error = #expect(throws: InputError.self) { _ = try PickleMachine.run(sample.bytes) }
        #expect(error?.kind == sample.kind, "\(String(describing: error))")
        #expect(error?.message.contains(sample.message) == true, "\(sample.name): \(error?.message ?? "no error")")
        if case .byteOffset = error?.location {} else { Issue.record("\(sample.name): no byte offset") }
    }

    @Test func acceptsWhatTorchsWeightsOnlyLoaderAcceptsBeyondProtocol2() throws {
        // PROTO 4, EMPTY_SET, SHORT_BINSTRING, a LONG1 of 8 bytes, BINFLOAT, NEWTRUE in a dict.
        var bytes: [UInt8] = [0x80, 0x04, 0x7D, 0x28]
        bytes += Self.unicode("set") + [0x8F]
        bytes += Self.unicode("name") + [0x55, 0x03] + Array("abc".utf8)
        bytes += Self.unicode("big") + [0x8A, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x80]
        bytes += Self.unicode("float") + [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        bytes += Self.unicode("neg") + [0x8A, 0x01, 0xFF]
        bytes += [0x75, 0x2E]
        let result = try PickleMachine.run(bytes)
        guard case .dict(let index) = result.root else { Issue.record("root is not a dict"); return }
        let dict = result.dicts[index]
        if case .int(let value) = dict.value(forString: "big") { #expect(value == Int.min) } else { Issue.record("big") }
        if case .int(let value) = dict.value(forString: "neg") { #expect(value == -1) } else { Issue.record("neg") }
        if case .float(let value) = dict.value(forString: "float") { #expect(value == 1.5) } else { Issue.record("float") }
        if case .string(let value) = dict.value(forString: "name") { #expect(value == "abc") } else { Issue.record("name") }
    }

    @Test func memoCapIsEnforced() {
        var limits = PickleMachine.Limits()
        limits.maxMemo = 3
        var bytes: [UInt8] = [0x80, 0x02, 0x4E]
        for index: UInt8 in 0..<4 { bytes += [0x71, index] }
        bytes += [0x2E]
        let error = #expect(throws: InputError.self) { _ = try PickleMachine.run(bytes, limits: limits) }
        #expect(error?.message.contains("memo exceeds the cap of 3") == true)
        #expect(error?.kind == .overLimit)
    }

    @Test func stackCapIsEnforced() {
        var limits = PickleMachine.Limits()
        limits.maxStack = 100
        let bytes: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x4E, count: 101) + [0x2E]
        let error = #expect(throws: InputError.self) { _ = try PickleMachine.run(bytes, limits: limits) }
        #expect(error?.message.contains("stack exceeds the cap of 100") == true)
        #expect(error?.kind == .overLimit)
    }

    @Test func markDepthCapIsEnforced() {
        let bytes: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 1001) + [0x2E]
        let error = #expect(throws: InputError.self) { _ = try PickleMachine.run(bytes) }
        #expect(error?.message.contains("MARK nesting deeper than 1000") == true)
        #expect(error?.kind == .overLimit)
    }
}
