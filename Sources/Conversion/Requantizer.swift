import BinaryIO
import GGUF
import Quantization

/// GGUF → GGUF in another type (`llamakit quantize`): metadata carried over in order with
/// `general.file_type` and `general.quantization_version` set; the same type policy as
/// `convert` (1-D tensors F32); tensors encoded one at a time in chunks by `convert`'s
/// threaded `TensorEncoder.encodeTensor` (Q8_0/Q4_0 sources dequantized chunk by chunk).
public enum Requantizer {
    /// - Throws: `InputError` naming the tensor for a type LlamaKit cannot read or a value the
    ///   target cannot hold; the output path is left untouched on any error.
    /// - Parameters:
    ///   - threads: threads that encode each chunk (the file is the same for any count).
    ///   - sync: fsync before the rename (see `AtomicOutputFile.commit`).
    public static func run(
        input: GGUFFile, type: ConversionType, to path: String, threads: Int = 1, sync: Bool = true,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws {
        var writer = GGUFWriter(alignment: input.alignment)
        // Keys keep their places; the two that describe the tensors get new values.
        let replaced: [String: GGUFValue] = ["general.file_type": .u32(type.fileType), "general.quantization_version": .u32(2)]
        for (key, value) in input.metadata { writer.add(key, replaced[key] ?? value) }
        for (key, value) in replaced.sorted(by: { $0.key < $1.key }) where input.value(key) == nil { writer.add(key, value) }
        var targets: [GGMLType] = []
        for tensor in input.tensors {
            let isVector = tensor.shape.count == 1 || tensor.name.hasSuffix("_norm.weight") || tensor.name == "rope_freqs.weight"
            var target = isVector ? GGMLType.f32 : type.ggmlType
            if !target.layout.holdsWholeBlocks(tensor.shape.last ?? 0) { target = .f16 }
            targets.append(target)
            try writer.addTensor(name: tensor.name, shape: tensor.shape, type: target)
        }
        var scratch: [Float] = []
        var encoded: [UInt8] = []
        try writer.write(to: path, sync: sync) { index, sink in
            let tensor = input.tensors[index]
            progress?(index, input.tensors.count, tensor.name)
            defer { input.releasePages(of: tensor.name) }
            try input.withBytes(of: tensor.name) { raw in
                if tensor.type == targets[index] {
                    try sink(raw)
                    return
                }
                guard [.f32, .f16, .bf16].contains(tensor.type) || BlockFormat(tensor.type.dtype)?.isWeightFormat == true else {
                    throw InputError(
                        .unsupported, "cannot requantize from \(tensor.type.name): LlamaKit reads f32, f16, bf16 and ggml's block formats",
                        at: .tensor(tensor.name))
                }
                try TensorEncoder.encodeTensor(
                    raw, dtype: tensor.type.dtype, count: tensor.shape.reduce(1, *), as: targets[index], name: tensor.name,
                    threads: threads, scratch: &scratch, encoded: &encoded
                ) { try sink($0) }
            }
        }
    }
}
