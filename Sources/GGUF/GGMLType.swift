import TensorCore

/// ggml tensor types by their GGUF id. Sizes come from the element type's `DType.layout`.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// Elements per block and bytes per block, from the one layout table.
    public var layout: BlockLayout { dtype.layout }

    /// The lowercase name LlamaKit prints (`q8_0`, `bf16`).
    public var name: String { String(describing: self).lowercased() }

    /// The element type a `TensorSource` reports for this ggml type.
    public var dtype: DType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        case .i8: return .i8
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q8_0: return .q8_0
        case .q8_1: return .q8_1
        case .q2_K: return .q2_K
        case .q3_K: return .q3_K
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        case .q8_K: return .q8_K
        }
    }
}

extension GGMLType {
    /// How many of `types` are of each type, most common first (ties by id): `inspect`'s and
    /// `convert`'s per-type count.
    public static func counts(_ types: [GGMLType]) -> [(type: GGMLType, count: Int)] {
        var counts: [GGMLType: Int] = [:]
        for type in types { counts[type, default: 0] += 1 }
        return counts.map { (type: $0.key, count: $0.value) }.sorted { ($0.count, $1.type.rawValue) > ($1.count, $0.type.rawValue) }
    }

    /// `q4_k × 130, q6_k × 17, f32 × 34`.
    public static func summary(_ types: [GGMLType]) -> String {
        counts(types).map { "\($0.type.name) × \($0.count)" }.joined(separator: ", ")
    }
}
