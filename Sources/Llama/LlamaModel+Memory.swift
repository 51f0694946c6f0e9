import TensorCore

extension LlamaModel {
    /// The anonymous memory of a model over `source` (`docs/memory.md` §3), worked out from its
    /// tensor table without reading a weight: the KV cache, the weights that cannot be read in
    /// place, and the buffers of one forward call.
    /// - Parameters:
    ///   - positions: the most positions one `forward` call runs (a prompt, a chunk).
    ///   - logitRows: the most rows of logits one call returns.
    /// - Throws: `InputError` if the source cannot tell whether a tensor is resident (an
    ///   unmappable file).
    public static func memoryTerms(
        config: LlamaConfig, source: any TensorSource, sourceName: (String) -> String = { $0 }, maxSequenceLength: Int,
        positions: Int, logitRows: Int
    ) throws -> [MemoryPlan.Term] {
        let kvDim = config.kvHeadCount * config.headDim
        let cache = config.layerCount * maxSequenceLength * kvDim * 2 * MemoryLayout<Float>.size
        return [
            MemoryPlan.Term("KV cache", cache, reason: "for \(maxSequenceLength) positions"),
            MemoryPlan.Term("weights copied", try copiedWeightBytes(config: config, source: source, sourceName: sourceName)),
            MemoryPlan.Term("scratch", scratchBytes(config, positions: positions, logitRows: logitRows)),
        ]
    }

    /// Bytes `WeightStore` will copy: the matrices (or shard slices) the source cannot lend in place.
    static func copiedWeightBytes(config: LlamaConfig, source: any TensorSource, sourceName: (String) -> String) throws -> Int {
        var bytes = 0
        for (metaName, shape) in config.expectedShapes where shape.count == 2 {
            let name = sourceName(metaName)
            guard let info = source.info(named: name) else { continue }
            if let parts = try source.parts(of: name), parts.parts.count > 1 {
                for part in parts.parts where try part.source.residentBytes(of: part.name) == nil {
                    bytes += part.source.info(named: part.name)?.byteCount ?? 0
                }
            } else if try source.residentBytes(of: name) == nil {
                bytes += info.byteCount
            }
        }
        return bytes
    }

    /// One forward call's f32 buffers (`Scratch`, the quantized and partial products of a
    /// matmul) and its logits, held twice while they are returned and compared.
    static func scratchBytes(_ config: LlamaConfig, positions n: Int, logitRows: Int) -> Int {
        let d = config.dim, kvDim = config.kvHeadCount * config.headDim, f = config.ffnHiddenSize
        let activations = n * (6 * d + 2 * kvDim + 4 * f)
        let logits = 2 * logitRows * config.vocabSize
        return (activations + logits) * MemoryLayout<Float>.size
    }
}
