import BinaryIO
import Dispatch
import GGUF
import Quantization
import TensorCore

/// f32 values → the bytes of a GGUF tensor type, with the conversion policies: F16 refuses
/// values beyond ±65504 rather than writing inf. Shared by `convert` and `quantize`.
enum TensorEncoder {
    /// Bytes that `count` elements take as `type`.
    static func encodedSize(_ count: Int, as type: GGMLType, name: String) throws -> Int {
        switch type {
        case .f32: return count * 4
        case .f16, .bf16: return count * 2
        case .q8_0: return count / 32 * 34
        case .q4_0: return count / 32 * 18
        default: throw InputError("cannot encode \(type.name)", at: .tensor(name))
        }
    }

    /// Encodes f32 values as `type` into the front of `buffer` (reused across tensors).
    /// - Returns: the number of bytes written.
    static func encode(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, name: String, into buffer: inout [UInt8]
    ) throws -> Int {
        let size = try encodedSize(values.count, as: type, name: name)
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
        try buffer.withUnsafeMutableBytes { whole in
            try encode(values, as: type, name: name, into: UnsafeMutableRawBufferPointer(rebasing: whole[0..<size]), firstElement: 0)
        }
        return size
    }

    /// Encodes `values` into exactly `out`; errors name the element by `firstElement + index`.
    private static func encode(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, name: String, into out: UnsafeMutableRawBufferPointer,
        firstElement: Int
    ) throws {
        switch type {
        case .f32:
            for (index, value) in values.enumerated() {
                out.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        case .f16:
            if let big = values.firstIndex(where: { abs($0) > 65504 }) {
                throw InputError(
                    "element \(firstElement + big) is \(values[big]), beyond F16's ±65504: use --type bf16 or f32", at: .tensor(name))
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

    /// A pointer handed to the worker threads of `convertChunk`; each writes a disjoint range.
    private struct Shared: @unchecked Sendable {
        let raw: UnsafeRawBufferPointer
        let values: UnsafeMutableBufferPointer<Float>
        let out: UnsafeMutableRawBufferPointer
    }

    /// One chunk of a checkpoint tensor (`raw`, elements of `dtype` starting at element
    /// `firstElement` of the tensor) widened to f32 in `values`, checked finite and encoded as
    /// `type` into `out`, split over `threads` threads in whole 32-element blocks.
    /// Errors are the same, and name the same element, whatever the thread count.
    static func convertChunk(
        _ raw: UnsafeRawBufferPointer, dtype: DType, firstElement: Int, as type: GGMLType, name: String,
        values: UnsafeMutableBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer, threads: Int
    ) throws {
        let count = values.count
        let blocks = (count + 31) / 32
        let parts = count < 1 << 16 ? 1 : max(1, min(threads, blocks))
        let shared = Shared(raw: raw, values: values, out: out)
        let bytesPerElement = try encodedSize(32, as: type, name: name)
        let itemSize = dtype.itemSize
        @Sendable func run(_ part: Int) -> InputError? {
            let start = blocks * part / parts * 32, end = min(count, blocks * (part + 1) / parts * 32)
            guard start < end else { return nil }
            let out = UnsafeMutableRawBufferPointer(
                rebasing: shared.out[(start / 32 * bytesPerElement)..<((end + 31) / 32 * bytesPerElement)])
            // Q8_0 straight from the source bytes (SIMD, no f32 copy) unless a value is inf or
            // NaN: then the widening path below finds and names it.
            if type == .q8_0
                && BlockQuantizer.quantizeQ8_0(
                    UnsafeRawBufferPointer(rebasing: shared.raw[(start * itemSize)..<(end * itemSize)]), dtype: dtype, into: out)
            {
                return nil
            }
            let values = UnsafeMutableBufferPointer(rebasing: shared.values[start..<end])
            guard
                FloatConversion.widen(
                    UnsafeRawBufferPointer(rebasing: shared.raw[(start * itemSize)..<(end * itemSize)]), dtype: dtype, into: values)
            else {
                return InputError("dtype \(dtype.rawValue) cannot be converted (expected f32, f16 or bf16)", at: .tensor(name))
            }
            // One scan for both refusals, so the lowest bad element is named whatever the split.
            let f16 = type == .f16
            if let bad = values.firstIndex(where: { !$0.isFinite || (f16 && abs($0) > 65504) }) {
                let element = firstElement + start + bad
                return values[bad].isFinite
                    ? InputError("element \(element) is \(values[bad]), beyond F16's ±65504: use --type bf16 or f32", at: .tensor(name))
                    : InputError("element \(element) is \(values[bad]): refusing to convert non-finite weights", at: .tensor(name))
            }
            do {
                try encode(UnsafeBufferPointer(values), as: type, name: name, into: out, firstElement: firstElement + start)
            } catch let error as InputError {
                return error
            } catch {
                return InputError("\(error)", at: .tensor(name))
            }
            return nil
        }
        if parts == 1 {
            if let error = run(0) { throw error }
            return
        }
        let errors = ErrorSlots(count: parts)
        DispatchQueue.concurrentPerform(iterations: parts) { part in errors.set(part, run(part)) }
        // The first part's error is the lowest element's: the same message a single thread gives.
        if let error = errors.first { throw error }
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

/// One error slot per worker, each written only by its own thread before `concurrentPerform`
/// returns (raw slots, so no shared array buffer is mutated from two threads).
private final class ErrorSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<InputError?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    func set(_ index: Int, _ error: InputError?) { slots[index] = error }
    var first: InputError? { (0..<count).lazy.compactMap { self.slots[$0] }.first }
}
