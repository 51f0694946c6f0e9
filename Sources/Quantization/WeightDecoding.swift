import TensorCore

/// Every weight type LlamaKit reads, as f32: f32/f16/bf16 widened exactly (`FloatConversion`),
/// ggml's block formats dequantized as ggml does (`BlockQuantizer`). The one place that says which
/// stored types can become f32 values.
public enum WeightDecoding {
    /// Whether `dtype` can be decoded.
    public static func canDecode(_ dtype: DType) -> Bool {
        switch dtype {
        case .f32, .f16, .bf16: return true
        default: return BlockFormat(dtype) != nil
        }
    }

    /// Decodes `raw` (elements of `dtype`, a whole number of blocks for block formats) into
    /// `values`, which holds exactly as many elements.
    /// - Returns: false for a type `canDecode` refuses.
    public static func decode(_ raw: UnsafeRawBufferPointer, dtype: DType, into values: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let format = BlockFormat(dtype) else { return FloatConversion.widen(raw, dtype: dtype, into: values) }
        BlockQuantizer.dequantize(raw, as: format, into: values)
        return true
    }
}
