import TensorCore

/// A value on the pickle machine's stack.
///
/// Deliberately flat: containers live in the machine's arena and are referenced by index, so a
/// hostile pickle can nest 100,000 levels deep or build cycles without a recursive structure
/// that would overflow the stack when it is walked or freed.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case global(PickleGlobal)
    case tuple(Int)
    case list(Int)
    case dict(Int)
    case emptySet
    case storage(Int)
    case tensor(Int)

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .global(let global): return "global \(global)"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .emptySet: return "set"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// A dict built by the machine: insertion-ordered, later assignments replace earlier ones.
struct PickleDict {
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    private var stringIndex: [String: Int] = [:]
    private var intIndex: [Int: Int] = [:]

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        let existing: Int?
        switch key {
        case .string(let text): existing = stringIndex[text]
        case .int(let number): existing = intIndex[number]
        default: existing = nil
        }
        if let existing {
            values[existing] = value
            return
        }
        switch key {
        case .string(let text): stringIndex[text] = keys.count
        case .int(let number): intIndex[number] = keys.count
        default: break
        }
        keys.append(key)
        values.append(value)
    }

    var isEmpty: Bool { keys.isEmpty }

    func value(forString key: String) -> PickleValue? {
        stringIndex[key].map { values[$0] }
    }
}

/// A storage named by a persistent id: `('storage', StorageType, key, location, numel)`.
struct StorageRef: Equatable {
    var key: String
    /// The element type of a legacy typed storage; nil for `UntypedStorage` (numel is bytes).
    var dtype: DType?
    var numel: Int
    /// Bytes the record must hold.
    var byteCount: Int
}

/// A tensor made by a rebuild function: a strided view of a storage, in elements.
struct TensorRecord: Equatable {
    var storage: Int
    var dtype: DType
    var storageOffset: Int
    var shape: [Int]
    var strides: [Int]
}

/// Every tuple of a pickle in one flat array: torch writes four tuples per tensor, and storing
/// them as ranges of one buffer avoids an allocation for each.
struct TupleArena {
    private var items: [PickleValue] = []
    private var ranges: [Range<Int>] = []

    var count: Int { ranges.count }

    subscript(index: Int) -> Elements { Elements(slice: items[ranges[index]]) }

    /// Stores a tuple and returns its index.
    mutating func append<C: Collection>(contentsOf elements: C) -> Int where C.Element == PickleValue {
        let start = items.count
        items.append(contentsOf: elements)
        ranges.append(start..<items.count)
        return ranges.count - 1
    }

    /// A tuple's elements, indexed from 0.
    struct Elements: RandomAccessCollection {
        let slice: ArraySlice<PickleValue>
        var startIndex: Int { 0 }
        var endIndex: Int { slice.count }
        subscript(position: Int) -> PickleValue { slice[slice.startIndex + position] }
    }
}
