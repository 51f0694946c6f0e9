/// Element types of tensors, spelled as LlamaKit prints them (`f32`, `bf16`, …).
///
/// Covers every dtype `torch.save` stores (`../shared/reference/pth-format.md` §8): the legacy
/// typed storages and the "new" dtypes carried by `UntypedStorage` + `_rebuild_tensor_v3`.
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64, f32, f16, bf16
    case i64, i32, i16, i8, u8, bool
    case u16, u32, u64
    case c64, c128
    case f8_e4m3fn, f8_e5m2, f8_e4m3fnuz, f8_e5m2fnuz, f8_e8m0fnu

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .f64, .i64, .u64, .c64: return 8
        case .c128: return 16
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8_e4m3fn, .f8_e5m2, .f8_e4m3fnuz, .f8_e5m2fnuz, .f8_e8m0fnu: return 1
        }
    }

    /// The size of the unit a byte swap reverses: complex numbers swap each half.
    public var swapUnit: Int {
        switch self {
        case .c64: return 4
        case .c128: return 8
        default: return itemSize
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16, .f8_e4m3fn, .f8_e5m2, .f8_e4m3fnuz, .f8_e5m2fnuz, .f8_e8m0fnu: return true
        default: return false
        }
    }

    /// torch's own name (`torch.bfloat16`), for messages and `--tree`.
    public var torchName: String {
        switch self {
        case .f64: return "float64"
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i64: return "int64"
        case .i32: return "int32"
        case .i16: return "int16"
        case .i8: return "int8"
        case .u8: return "uint8"
        case .bool: return "bool"
        case .u16: return "uint16"
        case .u32: return "uint32"
        case .u64: return "uint64"
        case .c64: return "complex64"
        case .c128: return "complex128"
        case .f8_e4m3fn: return "float8_e4m3fn"
        case .f8_e5m2: return "float8_e5m2"
        case .f8_e4m3fnuz: return "float8_e4m3fnuz"
        case .f8_e5m2fnuz: return "float8_e5m2fnuz"
        case .f8_e8m0fnu: return "float8_e8m0fnu"
        }
    }
}
