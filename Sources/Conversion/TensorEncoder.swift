import BinaryIO
import GGUF
import Quantization

/// f32 values → the bytes of a GGUF tensor type, with the conversion policies: F16 refuses
/// values beyond ±65504 rather than writing inf. Shared by `convert` and `quantize`.
enum TensorEncoder {
    /// Encodes f32 values as `type` into the front of `buffer` (reused across tensors).
    /// - Returns: the number of bytes written.
    static func encode(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, name: String, into buffer: inout [UInt8]
    ) throws -> Int {
        let size: Int
        switch type {
        case .f32: size = values.count * 4
        case .f16, .bf16: size = values.count * 2
        case .q8_0: size = values.count / 32 * 34
        case .q4_0: size = values.count / 32 * 18
        default: throw InputError("cannot encode \(type.name)", at: .tensor(name))
        }
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
        try buffer.withUnsafeMutableBytes { whole in
            let out = UnsafeMutableRawBufferPointer(rebasing: whole[0..<size])
            switch type {
            case .f32:
                for (index, value) in values.enumerated() {
                    out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                }
            case .f16:
                if let big = values.firstIndex(where: { abs($0) > 65504 }) {
                    throw InputError("element \(big) is \(values[big]), beyond F16's ±65504: use --type bf16 or f32", at: .tensor(name))
                }
                FloatConversion.toF16(values, into: out)
            case .bf16:
                FloatConversion.toBF16(values, into: out)
            case .q8_0:
                BlockQuantizer.quantize(values, as: .q8_0, into: out)
            default:
                BlockQuantizer.quantize(values, as: .q4_0, into: out)
            }
        }
        return size
    }

    /// Any GGUF tensor LlamaKit can read, widened to f32.
    /// - Returns: false for a type it cannot dequantize.
    static func decode(_ raw: UnsafeRawBufferPointer, type: GGMLType, into values: UnsafeMutableBufferPointer<Float>) -> Bool {
        switch type {
        case .f32: return FloatConversion.widen(raw, dtype: .f32, into: values)
        case .f16: return FloatConversion.widen(raw, dtype: .f16, into: values)
        case .bf16: return FloatConversion.widen(raw, dtype: .bf16, into: values)
        case .q8_0: BlockQuantizer.dequantize(raw, as: .q8_0, into: values)
        case .q4_0: BlockQuantizer.dequantize(raw, as: .q4_0, into: values)
        default: return false
        }
        return true
    }
}
