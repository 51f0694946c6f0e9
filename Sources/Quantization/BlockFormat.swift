import TensorCore

/// ggml's block-quantized formats that LlamaKit quantizes, dequantizes and multiplies
/// (`docs/formats.md` §3.3, §4). Sizes come from `DType.layout`; the field layout is
/// stated here and used by `BlockQuantizer` (quantize, dequantize) and the matrix kernels.
/// Adding a format: a case here, its layout in `DType.layout`, its quantizer and dequantizer
/// (`KQuantizers`, `LegacyQuantizers`, `BlockDequantizer`), its dot kernel.
public enum BlockFormat: String, Sendable, CaseIterable {
    /// `{ f16 d; int8 qs[32] }`: x = d · q.
    case q8_0
    /// `{ f16 d; uint8 qs[16] }`: x = d · (nibble − 8); low nibble of byte j = element j, high
    /// nibble = element j + 16.
    case q4_0
    /// `{ f16 d; f16 m; uint8 qs[16] }`: x = d · nibble + m.
    case q4_1
    /// `{ f16 d; uint32 qh; uint8 qs[16] }`: x = d · (5-bit level − 16); bit j of qh is the fifth bit of element j.
    case q5_0
    /// `{ f16 d; f16 m; uint32 qh; uint8 qs[16] }`: x = d · 5-bit level + m.
    case q5_1
    /// `{ f16 d; f16 s; int8 qs[32] }`: Q8_0 plus s = d · Σq; the activations of Q4_1/Q5_1 products.
    case q8_1
    /// `{ uint8 scales[16]; uint8 qs[64]; f16 d; f16 dmin }`: 16 groups of 16, 4-bit scale and min each.
    case q2_K
    /// `{ uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; f16 d }`: 16 groups of 16, 6-bit signed scales.
    case q3_K
    /// `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] }`: 8 groups of 32, 6-bit scale and min each.
    case q4_K
    /// `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128] }`.
    case q5_K
    /// `{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }`: 16 groups of 16.
    case q6_K
    /// `{ f32 d; int8 qs[256]; int16 bsums[16] }`: the activations of K-type products.
    case q8_K

    /// Where Q8_0's and Q4_0's values start, after their f16 scale.
    public static let valuesOffset = 2

    /// The element type of the same name. A switch, not a lookup by name: readers ask for it
    /// (and for the sizes that come from it) for every run of blocks they decode.
    public var dtype: DType {
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q8_1: return .q8_1
        case .q2_K: return .q2_K
        case .q3_K: return .q3_K
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        case .q8_K: return .q8_K
        }
    }

    /// Whether ggml has an importance-weighted quantizer for this format (`quantize_row_*_impl`).
    public var takesImportance: Bool {
        switch self {
        case .q8_0, .q8_1, .q8_K: return false
        default: return true
        }
    }

    /// Whether weights are stored in this format (Q8_1 and Q8_K exist only as activations).
    public var isWeightFormat: Bool { self != .q8_1 && self != .q8_K }

    /// The format of a block-quantized element type, or nil for one LlamaKit cannot decode.
    public init?(_ dtype: DType) {
        guard let format = Self.allCases.first(where: { $0.dtype == dtype }) else { return nil }
        self = format
    }

    public var elementsPerBlock: Int { dtype.layout.elements }
    public var bytesPerBlock: Int { dtype.layout.bytes }

    /// Bytes for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        dtype.layout.holdsWholeBlocks(count) ? dtype.layout.byteCount(elements: count) : nil
    }
}
