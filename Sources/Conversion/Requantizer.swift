import BinaryIO
import GGUF
import ModelLoading
import Quantization

/// GGUF → GGUF in another type (`llamakit quantize`), as llama-quantize does it: each tensor's
/// type chosen by `QuantizationMix` from the file's own tensor list and `llama.*` keys, metadata
/// carried over in order with `general.file_type` and `general.quantization_version` set (and
/// the `quantize.imatrix.*` keys when an importance matrix is used); tensors already in their
/// planned type copied, the others encoded one at a time in chunks by `convert`'s threaded
/// `TensorEncoder.encodeTensor` (quantized sources dequantized chunk by chunk). A split set
/// reads as one model; the output is one file or a split set, whichever the caller asks.
public enum Requantizer {
    /// - Throws: `InputError` naming the tensor for a type LlamaKit cannot read, a value the
    ///   target cannot hold, or — without `allowRequantize` — a quantized tensor that would be
    ///   quantized again; the output path is left untouched on any error.
    /// - Parameters:
    ///   - threads: threads that encode each chunk (the file is the same for any count).
    ///   - sync: fsync before the rename (see `AtomicOutputFile.commit`).
    public static func run(
        input: GGUFSplitSet, request: QuantizationRequest, allowRequantize: Bool = false, to path: String,
        split: GGUFSplit.Limit? = nil, threads: Int = 1, sync: Bool = true, progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> (report: QuantizationReport, files: [String]) {
        let mix = try request.plan(input.tensors.map { ($0.name, $0.shape) }, model: try facts(of: input))
        let targets = mix.tensors.map(\.type)
        try checkSources(input, targets: targets, allowRequantize: allowRequantize)
        var writer = GGUFWriter(alignment: input.alignment)
        // Keys keep their places; the two that describe the tensors get new values.
        var replaced: [String: GGUFValue] = ["general.file_type": .u32(mix.fileType), "general.quantization_version": .u32(2)]
        for (key, value) in request.metadata { replaced[key] = value }
        for (key, value) in input.metadata { writer.add(key, replaced[key] ?? value) }
        for (key, value) in replaced.sorted(by: { $0.key < $1.key }) where input.value(key) == nil { writer.add(key, value) }
        for (tensor, target) in zip(input.tensors, targets) { try writer.addTensor(name: tensor.name, shape: tensor.shape, type: target) }
        var scratch: [Float] = []
        var encoded: [UInt8] = []
        var missing: [String] = []
        let files = try writer.write(to: path, split: split, sync: sync) { index, sink in
            let tensor = input.tensors[index]
            progress?(index, input.tensors.count, tensor.name)
            defer { input.releasePages(of: tensor.name) }
            let rows =
                tensor.type == targets[index]
                ? nil : try request.rows(for: tensor.name, shape: tensor.shape, type: targets[index], missing: &missing)
            try input.withBytes(of: tensor.name) { raw in
                if tensor.type == targets[index] {
                    try sink(raw)
                    return
                }
                try TensorEncoder.encodeTensor(
                    raw, dtype: tensor.type.dtype, count: tensor.shape.reduce(1, *), as: targets[index], rows: rows, name: tensor.name,
                    threads: threads, scratch: &scratch, encoded: &encoded
                ) { try sink($0) }
            }
        }
        return (QuantizationReport(types: targets, fallbacks: mix.fallbacks, withoutImportance: missing), files)
    }

    /// The hyperparameters the mix rules read, from the file's `llama.*` keys.
    static func facts(of file: GGUFSplitSet) throws -> MixModelFacts {
        let (config, _) = try ModelFiles.configuration(of: file)
        return MixModelFacts(blockCount: config.layerCount, headCount: config.headCount, headCountKV: config.kvHeadCount)
    }

    /// Every tensor that changes type must be readable, and — llama-quantize's rule — not
    /// already quantized unless `allowRequantize`: quantizing twice loses more than once.
    static func checkSources(_ input: GGUFSplitSet, targets: [GGMLType], allowRequantize: Bool) throws {
        for (tensor, target) in zip(input.tensors, targets) where tensor.type != target {
            let format = BlockFormat(tensor.type.dtype)
            guard [.f32, .f16, .bf16].contains(tensor.type) || format?.isWeightFormat == true else {
                throw InputError(
                    .unsupported, "cannot requantize from \(tensor.type.name): LlamaKit reads f32, f16, bf16 and ggml's block formats",
                    at: .tensor(tensor.name), file: input.path)
            }
            if format != nil && !allowRequantize {
                throw InputError(
                    .notAllowed,
                    "is already quantized (\(tensor.type.name)); quantizing it again as \(target.name) loses quality twice. Quantize from an F16/BF16/F32 file, or pass --allow-requantize",
                    at: .tensor(tensor.name), file: input.path)
            }
        }
    }
}
