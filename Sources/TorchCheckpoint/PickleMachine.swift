import BinaryIO
import TensorCore

/// A pickle interpreter that only *describes*: it never imports, calls or executes anything.
///
/// Mirrors the design of torch's `torch/_weights_only_unpickler.py`, stricter
/// (`docs/formats.md` §1.5–§1.9): a fixed set of opcodes, a fixed set of globals
/// (`PickleGlobal`), REDUCE switching on the global with exact arity and argument types,
/// type-checked container mutation, persistent ids only of the storage form, and caps on every
/// resource a file could make it allocate.
struct PickleMachine {
    /// Resource caps (`SECURITY.md`, "Caps", states them).
    struct Limits {
        var maxStack = 1_000_000
        var maxMarkDepth = 1_000
        var maxMemo = 1_000_000
        /// Containers, storages and tensors. A flood of 1-byte EMPTY_DICTs costs about 80 bytes
        /// of memory each (arena, stack, list), so this caps that at about 160 MB.
        var maxObjects = 2_000_000
        var maxStringBytes = 1 << 20
        var maxGlobalNameBytes = 256
        var maxRank = 16
        /// How deep the tensor naming walk follows nested containers.
        var maxNestingForNames = 64
        /// The longest dotted tensor name (Meta's are under 64 bytes; GGUF allows 64).
        var maxNameBytes = 1024
        /// All tensor names together may take at most this many bytes per pickle byte, plus
        /// `namesFixedBytes`: a key reused through the memo cannot multiply into gigabytes.
        var namesBytesPerPickleByte = 4
        var namesFixedBytes = 1 << 20
    }

    struct Result {
        /// Size of the pickle that produced this result (the names cap scales with it).
        var pickleBytes: Int
        var root: PickleValue
        var tuples: TupleArena
        var lists: [[PickleValue]]
        var dicts: [PickleDict]
        var storages: [StorageRef]
        var tensors: [TensorRecord]
    }

    private var reader: ByteReader
    private let limits: Limits
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    /// torch numbers memo slots 0, 1, 2, …: those live in an array; any other index in a
    /// dictionary, so a hostile index cannot make the array grow.
    private var memo: [PickleValue?] = []
    private var sparseMemo: [UInt32: PickleValue] = [:]
    private var memoCount = 0
    private var tuples = TupleArena()
    private var lists: [[PickleValue]] = []
    private var dicts: [PickleDict] = []
    private var storages: [StorageRef] = []
    private var storageByKey: [String: Int] = [:]
    private var tensors: [TensorRecord] = []
    private var objectCount = 0
    /// Offset of the opcode being executed, for errors.
    private var opcodeOffset = 0

    /// A machine over borrowed bytes: it lives only inside `run`.
    private init(bytes: UnsafeRawBufferPointer, limits: Limits) {
        reader = ByteReader(bytes)
        self.limits = limits
    }

    /// Runs the pickle in `bytes` to its STOP.
    /// - Throws: `InputError` at the byte offset (inside the pickle) of the offending opcode.
    static func run(_ bytes: [UInt8], limits: Limits = Limits()) throws -> Result {
        try bytes.withUnsafeBytes { raw in
            var machine = PickleMachine(bytes: raw, limits: limits)
            let root = try machine.execute()
            return Result(
                pickleBytes: bytes.count, root: root, tuples: machine.tuples, lists: machine.lists, dicts: machine.dicts,
                storages: machine.storages, tensors: machine.tensors)
        }
    }

    private func fail(_ kind: InputError.Kind, _ message: String) -> InputError {
        InputError(kind, message, at: .byteOffset(opcodeOffset))
    }

    // MARK: - The loop

    private mutating func execute() throws -> PickleValue {
        while true {
            opcodeOffset = reader.fileOffset
            if reader.isAtEnd { throw fail(.truncated, "truncated: the pickle ends without STOP") }
            let byte = try reader.u8("opcode")
            guard let opcode = PickleOpcode.table[Int(byte)] else {
                throw fail(.malformed, "unknown pickle opcode 0x\(String(byte, radix: 16, uppercase: true))")
            }
            if opcode == .stop {
                guard marks.isEmpty else { throw fail(.malformed, "STOP with \(marks.count) unclosed MARK(s)") }
                guard stack.count == 1 else {
                    throw fail(.mismatch, "STOP with \(stack.count) values on the stack, expected exactly 1")
                }
                return stack[0]
            }
            try step(opcode)
        }
    }

    /// One opcode. Every opcode the machine knows belongs to one of three groups; any other is
    /// refused, naming it.
    private mutating func step(_ opcode: PickleOpcode) throws {
        if try stepContainer(opcode) || stepValue(opcode) || stepCall(opcode) { return }
        throw fail(
            .notAllowed,
            "pickle opcode \(opcode.pythonName) (0x\(String(opcode.rawValue, radix: 16, uppercase: true))) is not allowed in a checkpoint"
        )
    }

    /// Protocol, MARK, and building tuples, lists, dicts and sets.
    /// - Returns: false when `opcode` is not one of them.
    private mutating func stepContainer(_ opcode: PickleOpcode) throws -> Bool {
        switch opcode {
        case .proto:
            let version = try reader.u8("protocol version")
            guard (2...5).contains(version) else {
                throw fail(.unsupported, "pickle protocol \(version) is not supported, expected 2 (torch.save's default) to 5")
            }
        case .mark:
            guard marks.count < limits.maxMarkDepth else {
                throw fail(.overLimit, "MARK nesting deeper than \(limits.maxMarkDepth)")
            }
            marks.append(stack.count)
        case .emptyTuple: try push(newTuple(fromStackTop: 0))
        case .tuple:
            guard let mark = marks.popLast() else { throw fail(.missing, "no MARK to pop to") }
            try push(newTuple(fromStackTop: stack.count - mark))
        case .tuple1: try push(newTuple(fromStackTop: 1))
        case .tuple2: try push(newTuple(fromStackTop: 2))
        case .tuple3: try push(newTuple(fromStackTop: 3))
        case .emptyList:
            try countObject()
            lists.append([])
            try push(.list(lists.count - 1))
        case .emptyDict:
            try push(newDict())
        case .emptySet:
            try countObject()
            try push(.emptySet)
        case .append:
            guard stack.count - 1 > (marks.last ?? 0) else { throw fail(.malformed, "stack underflow") }
            try appendToList(itemsFrom: stack.count - 1, opcode)
        case .appends:
            guard let mark = marks.popLast() else { throw fail(.missing, "no MARK to pop to") }
            try appendToList(itemsFrom: mark, opcode)
        case .setitem:
            guard stack.count - 2 > (marks.last ?? 0) else { throw fail(.malformed, "stack underflow") }
            try setItemsOnDict(itemsFrom: stack.count - 2, opcode)
        case .setitems:
            guard let mark = marks.popLast() else { throw fail(.missing, "no MARK to pop to") }
            guard (stack.count - mark) % 2 == 0 else {
                throw fail(.malformed, "SETITEMS with an odd number (\(stack.count - mark)) of keys and values")
            }
            try setItemsOnDict(itemsFrom: mark, opcode)
        default: return false
        }
        return true
    }

    /// Constants, strings and the memo.
    /// - Returns: false when `opcode` is not one of them.
    private mutating func stepValue(_ opcode: PickleOpcode) throws -> Bool {
        switch opcode {
        case .none: try push(.none)
        case .newtrue: try push(.bool(true))
        case .newfalse: try push(.bool(false))
        case .binint: try push(.int(Int(try reader.i32le("BININT argument"))))
        case .binint1: try push(.int(Int(try reader.u8("BININT1 argument"))))
        case .binint2: try push(.int(Int(try reader.u16le("BININT2 argument"))))
        case .long1: try push(.int(try readLong1()))
        case .binfloat: try push(.float(try reader.f64be("BINFLOAT argument")))
        case .binunicode:
            let length = try Checked.int(try reader.u32le("BINUNICODE length"), "BINUNICODE length")
            guard length <= limits.maxStringBytes else {
                throw fail(.overLimit, "string of \(length) bytes exceeds the cap of \(limits.maxStringBytes)")
            }
            let raw = try reader.bytes(length, "BINUNICODE string")
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw fail(.malformed, "BINUNICODE string is not valid UTF-8")
            }
            try push(.string(text))
        case .shortBinstring:
            let length = Int(try reader.u8("SHORT_BINSTRING length"))
            let raw = try reader.bytes(length, "SHORT_BINSTRING string")
            try push(.string(String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))))
        case .binput, .longBinput:
            let index = opcode == .binput ? UInt32(try reader.u8("BINPUT index")) : try reader.u32le("LONG_BINPUT index")
            guard let top = stack.last, stack.count > (marks.last ?? 0) else {
                throw fail(.malformed, "\(opcode.pythonName) with an empty stack")
            }
            try memoize(index, top)
        case .binget, .longBinget:
            let index = opcode == .binget ? UInt32(try reader.u8("BINGET index")) : try reader.u32le("LONG_BINGET index")
            guard let value = Int(index) < memo.count ? memo[Int(index)] : sparseMemo[index] else {
                throw fail(.malformed, "\(opcode.pythonName) of memo index \(index), which was never set")
            }
            try push(value)
        default: return false
        }
        return true
    }

    /// Globals and the calls made with them: REDUCE, NEWOBJ, BUILD, persistent ids.
    /// - Returns: false when `opcode` is not one of them.
    private mutating func stepCall(_ opcode: PickleOpcode) throws -> Bool {
        switch opcode {
        case .global:
            let module = try readGlobalLine("GLOBAL module")
            let name = try readGlobalLine("GLOBAL name")
            guard let global = PickleGlobal(module: module, name: name) else {
                throw fail(
                    .notAllowed,
                    "global '\(module).\(name)' is not allowed (only torch tensor rebuilders, storages, dtypes and OrderedDict are)")
            }
            try push(.global(global))
        case .reduce:
            let args = try pop()
            let callable = try pop()
            guard case .global(let global) = callable else {
                throw fail(.mismatch, "REDUCE on a \(callable.typeName), expected an allowed global")
            }
            guard case .tuple(let argsIndex) = args else {
                throw fail(.mismatch, "REDUCE arguments are a \(args.typeName), expected a tuple")
            }
            try push(try reduce(global, tuples[argsIndex], nested: false))
        case .newobj:
            let args = try pop()
            let cls = try pop()
            guard case .global(.parameterClass) = cls, case .tuple(let argsIndex) = args,
                let first = tuples[argsIndex].first, case .tensor = first
            else {
                throw fail(.notAllowed, "NEWOBJ is only allowed to create torch.nn.Parameter from a tensor")
            }
            try push(first)
        case .build:
            let state = try pop()
            guard let target = stack.last, stack.count > (marks.last ?? 0) else {
                throw fail(.malformed, "BUILD with an empty stack")
            }
            switch target {
            case .dict, .tensor: _ = state  // OrderedDict `_metadata` / tensor state: ignored
            default: throw fail(.mismatch, "BUILD on a \(target.typeName), expected an OrderedDict or a tensor")
            }
        case .binpersid:
            let pid = try pop()
            try push(try persistentLoad(pid))
        default: return false
        }
        return true
    }

    // MARK: - Stack and memo

    private mutating func memoize(_ index: UInt32, _ value: PickleValue) throws {
        let slot = Int(index)
        let isNew = slot < memo.count ? memo[slot] == nil : sparseMemo[index] == nil
        if isNew {
            guard memoCount < limits.maxMemo else { throw fail(.overLimit, "memo exceeds the cap of \(limits.maxMemo) entries") }
            memoCount += 1
        }
        if slot < memo.count {
            memo[slot] = value
        } else if slot == memo.count && sparseMemo.isEmpty {
            memo.append(value)
        } else {
            sparseMemo[index] = value
        }
    }

    private mutating func countObject() throws {
        objectCount += 1
        guard objectCount <= limits.maxObjects else {
            throw fail(.overLimit, "more than \(limits.maxObjects) objects")
        }
    }

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < limits.maxStack else { throw fail(.overLimit, "stack exceeds the cap of \(limits.maxStack) values") }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw fail(.malformed, "stack underflow") }
        return stack.removeLast()
    }

    /// Moves the top `count` stack values (above the innermost MARK) into a new tuple.
    private mutating func newTuple(fromStackTop count: Int) throws -> PickleValue {
        guard stack.count - (marks.last ?? 0) >= count else { throw fail(.malformed, "stack underflow") }
        try countObject()
        let index = tuples.append(contentsOf: stack[(stack.count - count)...])
        stack.removeLast(count)
        return .tuple(index)
    }

    private mutating func newDict() throws -> PickleValue {
        try countObject()
        dicts.append(PickleDict())
        return .dict(dicts.count - 1)
    }

    /// The container just below `start` (above the innermost MARK), which `stack[start...]`
    /// goes into.
    private func container(below start: Int, _ opcode: PickleOpcode, expected: String) throws -> PickleValue {
        guard start > (marks.last ?? 0) else {
            throw fail(.mismatch, "\(opcode.pythonName) on an empty stack, expected a \(expected)")
        }
        return stack[start - 1]
    }

    /// Moves `stack[start...]` into the list below it, straight from the stack (no copy).
    private mutating func appendToList(itemsFrom start: Int, _ opcode: PickleOpcode) throws {
        guard case .list(let index) = try container(below: start, opcode, expected: "list") else {
            throw fail(.mismatch, "\(opcode.pythonName) on a \(stack[start - 1].typeName), expected a list")
        }
        lists[index].append(contentsOf: stack[start...])
        stack.removeSubrange(start...)
    }

    /// Sets the key-value pairs `stack[start...]` on the dict below them.
    private mutating func setItemsOnDict(itemsFrom start: Int, _ opcode: PickleOpcode) throws {
        guard case .dict(let index) = try container(below: start, opcode, expected: "dict") else {
            throw fail(.mismatch, "\(opcode.pythonName) on a \(stack[start - 1].typeName), expected a dict")
        }
        var pair = start
        while pair < stack.count {
            switch stack[pair] {
            case .string, .int, .bool, .none, .float, .tuple: break
            default: throw fail(.notAllowed, "dict key of type \(stack[pair].typeName) is not allowed")
            }
            dicts[index].set(stack[pair], stack[pair + 1])
            pair += 2
        }
        stack.removeSubrange(start...)
    }

    // MARK: - Arguments

    private mutating func readLong1() throws -> Int {
        let count = Int(try reader.u8("LONG1 length"))
        guard count <= 8 else { throw fail(.malformed, "LONG1 integer of \(count) bytes is larger than 64 bits") }
        let raw = try reader.bytes(count, "LONG1 integer")
        guard count > 0 else { return 0 }
        var value: UInt64 = 0
        for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        if count < 8, raw.last! & 0x80 != 0 { value |= ~0 << (8 * UInt64(count)) }  // sign-extend
        return Int(Int64(bitPattern: value))
    }

    private mutating func readGlobalLine(_ what: String) throws -> String {
        let raw = try reader.line(limit: limits.maxGlobalNameBytes, what)
        guard let text = String(validating: raw, as: UTF8.self) else { throw fail(.malformed, "\(what) is not valid UTF-8") }
        return text
    }

    private func int(_ value: PickleValue, _ what: String) throws -> Int {
        guard case .int(let number) = value else { throw fail(.mismatch, "\(what) is a \(value.typeName), expected an int") }
        return number
    }

    private func string(_ value: PickleValue, _ what: String) throws -> String {
        guard case .string(let text) = value else { throw fail(.mismatch, "\(what) is a \(value.typeName), expected a str") }
        return text
    }

    private func intTuple(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard case .tuple(let index) = value else { throw fail(.mismatch, "\(what) is a \(value.typeName), expected a tuple of ints") }
        let items = tuples[index]
        guard items.count <= limits.maxRank else {
            throw fail(.overLimit, "\(what) has \(items.count) dimensions, more than the cap of \(limits.maxRank)")
        }
        return try items.map { try int($0, what) }
    }

    private func requireDict(_ value: PickleValue, _ what: String) throws -> PickleDict {
        guard case .dict(let index) = value else { throw fail(.mismatch, "\(what) is a \(value.typeName), expected a dict") }
        return dicts[index]
    }

    // MARK: - REDUCE

    private mutating func reduce(_ global: PickleGlobal, _ args: TupleArena.Elements, nested: Bool) throws -> PickleValue {
        func arity(_ allowed: ClosedRange<Int>) throws {
            guard allowed.contains(args.count) else {
                let expected = allowed.count == 1 ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) or \(allowed.upperBound)"
                throw fail(.mismatch, "\(global) called with \(args.count) arguments, expected \(expected)")
            }
        }
        switch global {
        case .orderedDict:
            try arity(0...0)
            return try newDict()
        case .rebuildTensorV2:
            try arity(6...7)
            if args.count == 7 { try checkTensorMetadata(args[6]) }
            return try rebuildTensor(args, dtype: nil)
        case .rebuildTensorV3:
            try arity(7...8)
            guard case .global(.dtype(let dtype)) = args[6] else {
                throw fail(.mismatch, "_rebuild_tensor_v3 dtype argument is a \(args[6].typeName), expected a torch dtype")
            }
            if args.count == 8 { try checkTensorMetadata(args[7]) }
            return try rebuildTensor(args, dtype: dtype)
        case .rebuildTensor:
            try arity(4...4)
            return try rebuildTensor(args, dtype: nil)
        case .rebuildParameter, .rebuildParameterWithState:
            try arity(global == .rebuildParameter ? 3...3 : 4...4)
            guard case .tensor = args[0] else {
                throw fail(.mismatch, "\(global) data argument is a \(args[0].typeName), expected a tensor")
            }
            return args[0]
        case .rebuildFromTypeV2:
            try arity(4...4)
            guard !nested, case .global(let function) = args[0] else {
                throw fail(.malformed, "_rebuild_from_type_v2 function argument must be a tensor rebuild function")
            }
            guard case .global(let newType) = args[1], newType == .tensorClass || newType == .parameterClass else {
                throw fail(.malformed, "_rebuild_from_type_v2 type must be torch.Tensor or torch.nn.Parameter, found \(args[1].typeName)")
            }
            guard case .tuple(let inner) = args[2] else {
                throw fail(.mismatch, "_rebuild_from_type_v2 arguments are a \(args[2].typeName), expected a tuple")
            }
            let result = try reduce(function, tuples[inner], nested: true)
            guard case .tensor = result else { throw fail(.malformed, "_rebuild_from_type_v2 did not rebuild a tensor") }
            return result
        case .torchSize:
            try arity(1...1)
            _ = try intTuple(args[0], "torch.Size argument")
            return args[0]
        case .torchDevice:
            try arity(1...2)
            return .string(try string(args[0], "torch.device type"))
        case .codecsEncode:
            try arity(2...2)
            let text = try string(args[0], "_codecs.encode text")
            guard try string(args[1], "_codecs.encode encoding") == "latin1" else {
                throw fail(.malformed, "_codecs.encode encoding must be 'latin1'")
            }
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw fail(.malformed, "_codecs.encode text is not latin1") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)
        case .builtinSet:
            try arity(0...1)
            return .emptySet
        case .tensorClass, .parameterClass, .typedStorage, .untypedStorage, .dtype:
            throw fail(.notAllowed, "\(global) cannot be called")
        }
    }

    /// Rejects the conjugate and negative bits, which never occur on real weights.
    private func checkTensorMetadata(_ value: PickleValue) throws {
        let metadata = try requireDict(value, "tensor metadata")
        for (key, flag) in zip(metadata.keys, metadata.values) {
            if case .bool(false) = flag { continue }
            let name: String
            if case .string(let text) = key { name = text } else { name = key.typeName }
            throw fail(.unsupported, "tensor metadata '\(name)' is set (conjugate/negative views are not supported)")
        }
    }

    /// `_rebuild_tensor_v2/v3` and `_rebuild_tensor`: (storage, offset, size, stride, …).
    private mutating func rebuildTensor(_ args: TupleArena.Elements, dtype explicitType: DType?) throws -> PickleValue {
        guard case .storage(let storageIndex) = args[0] else {
            throw fail(.mismatch, "tensor rebuild storage argument is a \(args[0].typeName), expected a storage")
        }
        let storage = storages[storageIndex]
        let dtype: DType
        let storageElements: Int
        if let explicitType {
            guard storage.dtype == nil else {
                throw fail(.mismatch, "_rebuild_tensor_v3 needs an UntypedStorage, found a typed \(storage.dtype!.torchName) storage")
            }
            dtype = explicitType
            guard storage.numel % dtype.itemSize == 0 else {
                throw fail(
                    .malformed,
                    "untyped storage '\(storage.key)' of \(storage.numel) bytes is not a whole number of \(dtype.torchName) elements")
            }
            storageElements = storage.numel / dtype.itemSize
        } else {
            guard let typed = storage.dtype else {
                throw fail(.malformed, "an UntypedStorage needs _rebuild_tensor_v3 with a dtype")
            }
            dtype = typed
            storageElements = storage.numel
        }
        let offset = try int(args[1], "storage_offset")
        let shape = try intTuple(args[2], "size")
        let strides = try intTuple(args[3], "stride")
        guard offset >= 0 else { throw fail(.outOfRange, "storage_offset \(offset) is negative") }
        guard shape.count == strides.count else {
            throw fail(.mismatch, "size has \(shape.count) dimensions but stride has \(strides.count)")
        }
        for (axis, (size, stride)) in zip(shape, strides).enumerated() {
            guard size >= 0 else { throw fail(.outOfRange, "size[\(axis)] = \(size) is negative") }
            guard stride >= 0 else { throw fail(.outOfRange, "stride[\(axis)] = \(stride) is negative") }
        }
        let count = try Checked.product(shape, "tensor element count")
        _ = try Checked.multiply(count, dtype.itemSize, "tensor byte count")
        if count > 0 {
            var last = offset
            for (size, stride) in zip(shape, strides) {
                last = try Checked.add(last, try Checked.multiply(size - 1, stride, "tensor extent"), "tensor extent")
            }
            guard last < storageElements else {
                throw fail(
                    .outOfRange,
                    "tensor view reaches element \(last) of storage '\(storage.key)', which holds \(storageElements) elements (offset \(offset), size \(shape), stride \(strides))"
                )
            }
        }
        try countObject()
        tensors.append(TensorRecord(storage: storageIndex, dtype: dtype, storageOffset: offset, shape: shape, strides: strides))
        return .tensor(tensors.count - 1)
    }

    // MARK: - Persistent ids

    private mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let index) = pid else {
            throw fail(.mismatch, "persistent id is a \(pid.typeName), expected ('storage', type, key, location, numel)")
        }
        let items = tuples[index]
        guard items.count == 5 else {
            throw fail(.mismatch, "persistent id has \(items.count) fields, expected 5 ('storage', type, key, location, numel)")
        }
        guard try string(items[0], "persistent id tag") == "storage" else {
            throw fail(.malformed, "persistent id tag is not 'storage'")
        }
        let dtype: DType?
        switch items[1] {
        case .global(.typedStorage(let typed)): dtype = typed
        case .global(.untypedStorage): dtype = nil
        default: throw fail(.mismatch, "persistent id storage type is a \(items[1].typeName), expected a torch storage class")
        }
        let key = try string(items[2], "storage key")
        _ = try string(items[3], "storage location")
        let numel = try int(items[4], "storage numel")
        guard numel >= 0 else { throw fail(.outOfRange, "storage '\(key)' numel \(numel) is negative") }
        let byteCount = try Checked.multiply(numel, dtype?.itemSize ?? 1, "storage '\(key)' byte count")
        let ref = StorageRef(key: key, dtype: dtype, numel: numel, byteCount: byteCount)
        if let existing = storageByKey[key] {
            let known = storages[existing]
            guard known == ref || (known.byteCount == 0 && byteCount == 0) else {
                throw fail(
                    .malformed,
                    "storage '\(key)' is declared twice with different types or sizes (\(known.dtype?.torchName ?? "untyped") × \(known.numel) vs \(dtype?.torchName ?? "untyped") × \(numel))"
                )
            }
            return .storage(existing)
        }
        storages.append(ref)
        storageByKey[key] = storages.count - 1
        return .storage(storages.count - 1)
    }
}
