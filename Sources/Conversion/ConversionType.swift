import GGUF
import TensorCore

/// The output types of `llamakit convert` and their `general.file_type`
/// (`docs/formats.md` §3.7).
public enum ConversionType: String, Sendable, CaseIterable {
    case f32, f16, bf16, q8_0, q4_0

    /// The lossless default for a checkpoint whose embedding is stored as `dtype`: f32 and f16
    /// stay as they are, anything else becomes bf16 (Meta's own type).
    public static func lossless(for dtype: DType?) -> ConversionType {
        switch dtype {
        case .f32?: return .f32
        case .f16?: return .f16
        default: return .bf16
        }
    }

    public var ggmlType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        }
    }

    public var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .bf16: return 32
        case .q8_0: return 7
        case .q4_0: return 2
        }
    }
}
