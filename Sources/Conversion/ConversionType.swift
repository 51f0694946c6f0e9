import GGUF
import TensorCore

/// The output types of `llamakit convert` and `quantize` and their `general.file_type`
/// (`docs/formats.md` §3.7): llama.cpp's `llama_ftype` presets. Each is a mix: the
/// per-tensor types `QuantizationMix.plan` chooses as llama-quantize does
/// (`docs/quantization-mixes.md`).
public enum ConversionType: String, Sendable, CaseIterable {
    case f32, f16, bf16, q8_0, q4_0
    case q4_1, q5_0, q5_1
    case q2_K = "q2_k"
    case q3_K_S = "q3_k_s"
    case q3_K_M = "q3_k_m"
    case q3_K_L = "q3_k_l"
    case q4_K_S = "q4_k_s"
    case q4_K_M = "q4_k_m"
    case q5_K_S = "q5_k_s"
    case q5_K_M = "q5_k_m"
    case q6_K = "q6_k"

    /// The lossless default for a checkpoint whose embedding is stored as `dtype`: f32 and f16
    /// stay as they are, anything else becomes bf16 (Meta's own type).
    public static func lossless(for dtype: DType?) -> ConversionType {
        switch dtype {
        case .f32?: return .f32
        case .f16?: return .f16
        default: return .bf16
        }
    }

    /// The preset's default tensor type (llama.cpp's `llama_ftype_get_default_type`): what a 2-D
    /// weight gets unless a mix rule, an override or a row-length fallback says otherwise.
    public var ggmlType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q2_K: return .q2_K
        case .q3_K_S, .q3_K_M, .q3_K_L: return .q3_K
        case .q4_K_S, .q4_K_M: return .q4_K
        case .q5_K_S, .q5_K_M: return .q5_K
        case .q6_K: return .q6_K
        }
    }

    /// `general.file_type`: llama.cpp's `LLAMA_FTYPE_*` number (`include/llama.h`).
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .q2_K: return 10
        case .q3_K_S: return 11
        case .q3_K_M: return 12
        case .q3_K_L: return 13
        case .q4_K_S: return 14
        case .q4_K_M: return 15
        case .q5_K_S: return 16
        case .q5_K_M: return 17
        case .q6_K: return 18
        case .bf16: return 32
        }
    }
}
