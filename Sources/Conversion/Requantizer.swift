import BinaryIO
import GGUF

/// GGUF → GGUF in another type (`llamakit quantize`): metadata carried over in order with
/// `general.file_type` and `general.quantization_version` set; the same type policy as
/// `convert` (1-D tensors F32); tensors dequantized to f32 and encoded one at a time.
public enum Requantizer {
    /// - Throws: `InputError` naming the tensor for a type LlamaKit cannot read or a value the
    ///   target cannot hold; the output path is left untouched on any error.
    public static func run(input: GGUFFile, type: ConversionType, to path: String, progress: ((Int, Int, String) -> Void)? = nil) throws {
        var writer = GGUFWriter(alignment: input.alignment)
        // Keys keep their places; the two that describe the tensors get new values.
        let replaced: [String: GGUFValue] = ["general.file_type": .u32(type.fileType), "general.quantization_version": .u32(2)]
        for (key, value) in input.metadata { writer.add(key, replaced[key] ?? value) }
        for (key, value) in replaced.sorted(by: { $0.key < $1.key }) where input.value(key) == nil { writer.add(key, value) }
        var targets: [GGMLType] = []
        for tensor in input.tensors {
            let isVector = tensor.shape.count == 1 || tensor.name.hasSuffix("_norm.weight") || tensor.name == "rope_freqs.weight"
            var target = isVector ? GGMLType.f32 : type.ggmlType
            if target.blockSize > 1 && (tensor.shape.last ?? 0) % target.blockSize != 0 { target = .f16 }
            targets.append(target)
            try writer.addTensor(name: tensor.name, shape: tensor.shape, type: target)
        }
        var values = [Float](repeating: 0, count: Converter.chunkElements)
        var encoded: [UInt8] = []
        try writer.write(to: path) { index, sink in
            let tensor = input.tensors[index]
            progress?(index, input.tensors.count, tensor.name)
            defer { input.releasePages(of: tensor.name) }
            try input.withBytes(of: tensor.name) { raw in
                if tensor.type == targets[index] {
                    try sink(raw)
                    return
                }
                // In chunks of 1M elements (a multiple of every block size), so memory stays
                // bounded whatever the tensor's size.
                let count = tensor.shape.reduce(1, *)
                var start = 0
                while start < count {
                    let length = min(Converter.chunkElements, count - start)
                    let from = start / tensor.type.blockSize * tensor.type.bytesPerBlock
                    let to = (start + length) / tensor.type.blockSize * tensor.type.bytesPerBlock
                    try values.withUnsafeMutableBufferPointer { whole in
                        let buffer = UnsafeMutableBufferPointer(rebasing: whole[0..<length])
                        guard TensorEncoder.decode(UnsafeRawBufferPointer(rebasing: raw[from..<to]), type: tensor.type, into: buffer) else {
                            throw InputError(
                                "cannot requantize from \(tensor.type.name) (LlamaKit reads f32, f16, bf16, q8_0, q4_0)",
                                at: .tensor(tensor.name))
                        }
                        if let bad = buffer.firstIndex(where: { !$0.isFinite }) {
                            throw InputError(
                                "element \(start + bad) is \(buffer[bad]): refusing to write non-finite weights", at: .tensor(tensor.name))
                        }
                        let size = try TensorEncoder.encode(
                            UnsafeBufferPointer(buffer), as: targets[index], name: tensor.name, into: &encoded)
                        try encoded.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
                    }
                    start += length
                }
            }
        }
    }
}
