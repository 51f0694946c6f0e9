/// Element types of tensors, spelled as LlamaKit prints them (`f32`, `bf16`, …).
///
/// Covers every dtype `torch.save` stores (`docs/formats.md` §1.8): the legacy
/// typed storages and the "new" dtypes carried by `UntypedStorage` + `_rebuild_tensor_v3`.
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64, f32, f16, bf16
    case i64, i32, i16, i8, u8, bool
    case u16, u32, u64
    case c64, c128
    case f8_e4m3fn, f8_e5m2, f8_e4m3fnuz, f8_e5m2fnuz, f8_e8m0fnu
    /// ggml's block-quantized types (`docs/formats.md` §3.3, §4), as GGUF files hold them.
    case q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, q4_K, q5_K, q6_K, q8_K

    /// How this type is stored: the one table of element and block sizes that readers,
    /// writers, kernels and the encoder all take sizes from (`docs/formats.md` §3.3, §4).
    public var layout: BlockLayout {
        switch self {
        case .f64, .i64, .u64, .c64: return BlockLayout(elements: 1, bytes: 8)
        case .c128: return BlockLayout(elements: 1, bytes: 16)
        case .f32, .i32, .u32: return BlockLayout(elements: 1, bytes: 4)
        case .f16, .bf16, .i16, .u16: return BlockLayout(elements: 1, bytes: 2)
        case .i8, .u8, .bool, .f8_e4m3fn, .f8_e5m2, .f8_e4m3fnuz, .f8_e5m2fnuz, .f8_e8m0fnu: return BlockLayout(elements: 1, bytes: 1)
        case .q4_0: return BlockLayout(elements: 32, bytes: 18)
        case .q4_1: return BlockLayout(elements: 32, bytes: 20)
        case .q5_0: return BlockLayout(elements: 32, bytes: 22)
        case .q5_1: return BlockLayout(elements: 32, bytes: 24)
        case .q8_0: return BlockLayout(elements: 32, bytes: 34)
        case .q8_1: return BlockLayout(elements: 32, bytes: 36)
        case .q2_K: return BlockLayout(elements: 256, bytes: 84)
        case .q3_K: return BlockLayout(elements: 256, bytes: 110)
        case .q4_K: return BlockLayout(elements: 256, bytes: 144)
        case .q5_K: return BlockLayout(elements: 256, bytes: 176)
        case .q6_K: return BlockLayout(elements: 256, bytes: 210)
        case .q8_K: return BlockLayout(elements: 256, bytes: 292)
        }
    }

    /// Elements per block: 1 for plain element types, 32 or 256 for ggml's block types.
    public var blockSize: Int { layout.elements }

    /// Bytes per block (`itemSize` for plain element types).
    public var blockBytes: Int { layout.bytes }

    public var isBlockQuantized: Bool { layout.elements > 1 }

    /// Bytes of `count` elements; `count` must be a whole number of blocks (sources check it).
    public func byteCount(elements count: Int) -> Int { layout.byteCount(elements: count) }

    /// Bytes per element of a plain element type. Block types have no per-element size: asking
    /// for one is a programmer error (use `blockBytes`).
    public var itemSize: Int {
        precondition(!isBlockQuantized, "\(self) is block-quantized; it has no item size")
        return layout.bytes
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
        if isBlockQuantized { return true }
        switch self {
        case .f64, .f32, .f16, .bf16, .f8_e4m3fn, .f8_e5m2, .f8_e4m3fnuz, .f8_e5m2fnuz, .f8_e8m0fnu: return true
        default: return false
        }
    }

    /// torch's own name (`torch.bfloat16`), for messages and `--tree`; ggml's name for block types.
    public var torchName: String {
        switch self {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return rawValue
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

/// `elements` consecutive values of a row stored in `bytes` bytes: one element for plain
/// types, one block for ggml's quantized types.
public struct BlockLayout: Sendable, Equatable {
    public let elements: Int
    public let bytes: Int

    public init(elements: Int, bytes: Int) {
        self.elements = elements
        self.bytes = bytes
    }

    /// Bytes of `count` elements; `count` must be a whole number of blocks.
    public func byteCount(elements count: Int) -> Int { count / elements * bytes }

    /// Whether a row of `count` elements is a whole number of blocks.
    public func holdsWholeBlocks(_ count: Int) -> Bool { count % elements == 0 }
}
