import TensorCore

/// ggml's block-quantized formats that LlamaKit quantizes, dequantizes and multiplies
/// (`docs/formats.md` §3.3, §4). Sizes come from `DType.layout`; the field layout is
/// stated here and used by `BlockQuantizer` (quantize, dequantize) and the matrix kernels.
/// Adding a format: a case here, its layout in `DType.layout`, its quantizer and dequantizer in
/// `BlockQuantizer`, its dot kernel.
public enum BlockFormat: String, Sendable, CaseIterable {
    /// `{ f16 d; int8 qs[32] }`: x = d · q.
    case q8_0
    /// `{ f16 d; uint8 qs[16] }`: x = d · (nibble − 8); low nibble of byte j = element j, high
    /// nibble = element j + 16.
    case q4_0

    /// Every block starts with its f16 scale; the quantized values follow at this offset.
    public static let valuesOffset = 2

    public var dtype: DType {
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        }
    }

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
