/// GGUF metadata value types (`docs/formats.md` §3.2), named as `inspect` prints them and
/// `edit --type` takes them (gguf-py's `GGUFValueType` in short: `u32` is `UINT32`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, bool = 7, string = 8, array = 9
    case u64 = 10, i64 = 11, f64 = 12

    public var name: String { String(describing: self) }

    public init?(name: String) {
        guard let type = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = type
    }
}

/// A value's whole type: a scalar type, or an array with its element type (arrays do not nest).
/// Spelled `u32`, `string`, `array[i32]`.
public enum GGUFTypeSpec: Sendable, Equatable, CustomStringConvertible {
    case scalar(GGUFValueType)
    case array(of: GGUFValueType)

    /// Every scalar name, then `array[T]` for the pattern: what `--type` accepts.
    public static let spellings = GGUFValueType.allCases.filter { $0 != .array }.map(\.name) + ["array[T]"]

    public init?(name: String) {
        if name.hasPrefix("array[") && name.hasSuffix("]") {
            guard let element = GGUFValueType(name: String(name.dropFirst(6).dropLast())), element != .array else { return nil }
            self = .array(of: element)
        } else {
            guard let type = GGUFValueType(name: name), type != .array else { return nil }
            self = .scalar(type)
        }
    }

    public var description: String {
        switch self {
        case .scalar(let type): return type.name
        case .array(let element): return "array[\(element.name)]"
        }
    }
}

/// One metadata value. Arrays are homogeneous and never nested.
public enum GGUFValue: Sendable, Equatable {
    case u8(UInt8), i8(Int8), u16(UInt16), i16(Int16), u32(UInt32), i32(Int32), f32(Float), bool(Bool)
    case string(String)
    case u64(UInt64), i64(Int64), f64(Double)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .u8: return .u8
        case .i8: return .i8
        case .u16: return .u16
        case .i16: return .i16
        case .u32: return .u32
        case .i32: return .i32
        case .f32: return .f32
        case .bool: return .bool
        case .string: return .string
        case .u64: return .u64
        case .i64: return .i64
        case .f64: return .f64
        case .array: return .array
        }
    }

    public var typeSpec: GGUFTypeSpec {
        if case .array(let element, _) = self { return .array(of: element) }
        return .scalar(type)
    }
}
