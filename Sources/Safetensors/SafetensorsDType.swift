import TensorCore

/// safetensors' dtype names and the `DType` each one is (`docs/safetensors.md` §1): the one
/// table the reader and the writer both use. Listed in the reference library's `Dtype` order,
/// which its writer sorts by.
public enum SafetensorsDType {
    static let table: [(name: String, dtype: DType)] = [
        ("BOOL", .bool), ("U8", .u8), ("I8", .i8), ("F8_E5M2", .f8_e5m2), ("F8_E4M3", .f8_e4m3fn), ("F8_E8M0", .f8_e8m0fnu),
        ("I16", .i16), ("U16", .u16), ("F16", .f16), ("BF16", .bf16), ("I32", .i32), ("U32", .u32), ("F32", .f32),
        ("C64", .c64), ("F64", .f64), ("I64", .i64), ("U64", .u64),
    ]

    /// The `DType` of a header's dtype string, or nil for one LlamaKit does not read.
    public static func dtype(named name: String) -> DType? {
        table.first { $0.name == name }?.dtype
    }

    /// Where `dtype` sorts in the reference writer's order (nil when safetensors has no such dtype).
    static func rank(of dtype: DType) -> Int? {
        table.firstIndex { $0.dtype == dtype }
    }

    /// The header's name for `dtype`, or nil when safetensors has none (block-quantized types).
    public static func name(of dtype: DType) -> String? {
        table.first { $0.dtype == dtype }?.name
    }
}
