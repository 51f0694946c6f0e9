import BinaryIO
import GGUF
import ImportanceMatrix
import Llama
import LlamaTokenizers
import ModelLoading
import Quantization
import TensorCore

#if canImport(Glibc)
    import Glibc
#endif

/// Meta checkpoint → GGUF, one tensor at a time (`docs/formats.md` §3.4–§3.8).
///
/// Names mapped to llama.cpp's, each tensor's type chosen as llama-quantize would choose it from
/// an F16 file of the same model (`QuantizationMix`; 1-D tensors F32); every `general.*` and
/// `llama.*` key with the value type gguf-py writes; the tokenizer embedded; `rope_freqs.weight`
/// for Llama 3.1-style scaling; a tied `output.weight` dropped. Non-finite weights are refused
/// with the tensor's name.
public enum Converter {
    public struct Options: Sendable {
        public var type: ConversionType
        /// llama-quantize's `--output-tensor-type`, `--token-embedding-type`, `--pure`, `--tensor-type`.
        public var overrides: TensorTypeOverrides
        /// llama-quantize's `--imatrix`.
        public var importance: ImportanceMatrix?
        public var name: String
        /// Overrides the Llama 3.1 scaling factor chosen from the model's identity.
        public var ropeScalingFactor: Double?
        /// Metadata and tokenizer only, no tensors (llama.cpp's vocab-only files).
        public var vocabOnly: Bool
        /// Threads that widen, check and quantize each chunk; the output is the same for any count.
        public var threads: Int
        /// fsync the output before renaming it into place (default true).
        public var sync: Bool
        /// The chat template and instruct eos, for chat models.
        public var chat: ChatSetup
        /// Write llama.cpp's split set instead of one file.
        public var split: GGUFSplit.Limit?
        public init(
            type: ConversionType, overrides: TensorTypeOverrides = .none, importance: ImportanceMatrix? = nil, name: String,
            ropeScalingFactor: Double? = nil, vocabOnly: Bool = false, threads: Int = 1, sync: Bool = true,
            chat: ChatSetup = ChatSetup(template: nil, instruct: false), split: GGUFSplit.Limit? = nil
        ) {
            self.chat = chat
            self.split = split
            self.type = type
            self.overrides = overrides
            self.importance = importance
            self.name = name
            self.ropeScalingFactor = ropeScalingFactor
            self.vocabOnly = vocabOnly
            self.threads = threads
            self.sync = sync
        }
    }

    public struct Summary: Sendable {
        public var tensorCount: Int
        public var droppedTiedOutput: Bool
        public var ropeScalingFactor: Double?
        public var bytes: Int
        public var report: QuantizationReport
        /// The files written, the first member of a split set first.
        public var files: [String]
    }

    /// Elements converted per step: a multiple of every block size.
    static let chunkElements = 1 << 20

    private struct Planned {
        var gguf: String
        /// The Meta tensor, or nil for the generated `rope_freqs.weight`.
        var meta: String?
        var shape: [Int]
        var type: GGMLType
    }

    /// - Parameter progress: called before each tensor with (index, count, GGUF name).
    /// - Throws: `InputError` naming the tensor for unsupported dtypes, non-finite values or
    ///   values that overflow F16; the target path is left untouched on any error.
    public static func convert(
        source: any TensorSource, config: LlamaConfig, tokenizer: (any Tokenizer)?, options: Options, to path: String,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> Summary {
        let droppedTied = try !options.vocabOnly && isTiedOutput(source)
        let scaling = options.ropeScalingFactor ?? config.ropeScalingFactor
        let request = QuantizationRequest(preset: options.type, overrides: options.overrides, importance: options.importance)
        let (plan, mix) = try Self.plan(
            source, config: config, options: options, request: request, droppingOutput: droppedTied, ropeScaling: scaling)
        let writer = try Self.header(config: config, tokenizer: tokenizer, options: options, request: request, plan: plan)
        var scratch: [Float] = []
        var encoded: [UInt8] = []
        var missing: [String] = []
        let files = try writer.write(to: path, split: options.split, sync: options.sync) { index, sink in
            let tensor = plan[index]
            progress?(index, plan.count, tensor.gguf)
            guard let meta = tensor.meta else {
                let factors = ropeFreqs(headDim: config.headDim, theta: config.ropeTheta, factor: scaling ?? 8)
                try factors.withUnsafeBytes { try sink($0) }
                return
            }
            let rows = try request.rows(for: tensor.gguf, shape: tensor.shape, type: tensor.type, missing: &missing)
            // A shard set's row-split tensor is written slice by slice: each slice is whole rows,
            // so the bytes are the merged tensor's without assembling it (`docs/memory.md`).
            let pieces = try rowSlices(of: meta, in: source)
            var firstElement = 0
            for piece in pieces {
                let info = piece.source.info(named: piece.name)!
                try write(
                    piece.source, piece.name, info, as: tensor.type, rows: rows, firstElement: firstElement, threads: options.threads,
                    scratch: &scratch, encoded: &encoded
                ) { output in
                    switch output {
                    case .bytes(let raw): try sink(raw)
                    case .range(let range): try sink.copy(range)
                    }
                }
                firstElement += info.elementCount
            }
        }
        let report = QuantizationReport(types: plan.map(\.type), fallbacks: mix.fallbacks, withoutImportance: missing)
        return Summary(
            tensorCount: plan.count, droppedTiedOutput: droppedTied, ropeScalingFactor: scaling, bytes: 0, report: report,
            files: files)
    }

    /// Where a tensor's bytes go: in memory, or a stored range the writer copies in the kernel.
    private enum Output {
        case bytes(UnsafeRawBufferPointer)
        case range(StoredRange)
    }

    /// The tensors `name` is written from: its row slices when the source concatenates it
    /// along dim 0 (a shard set), otherwise the tensor itself.
    private static func rowSlices(of name: String, in source: any TensorSource) throws -> [TensorParts.Part] {
        if let parts = try source.parts(of: name), parts.axis == 0 { return parts.parts }
        return [TensorParts.Part(source: source, name: name)]
    }

    /// Encodes one tensor (or row slice) as `type`, handing the bytes to `emit` in chunks.
    /// Meta's bf16 weights go into a bf16 file bit for bit, copied by the kernel when the file
    /// stores them contiguously.
    private static func write(
        _ source: any TensorSource, _ name: String, _ info: TensorInfo, as type: GGMLType, rows: TensorEncoder.RowPlan?, firstElement: Int,
        threads: Int, scratch: inout [Float], encoded: inout [UInt8], emit: (Output) throws -> Void
    ) throws {
        if type == .bf16 && info.dtype == .bf16, let range = try source.storedRange(of: name) { return try emit(.range(range)) }
        try source.withBytes(of: name) { raw in
            if type == .bf16 && info.dtype == .bf16 { return try emit(.bytes(raw)) }
            try TensorEncoder.encodeTensor(
                raw, dtype: info.dtype, count: info.elementCount, as: type, rows: rows, name: name, firstElement: firstElement,
                threads: threads, scratch: &scratch, encoded: &encoded
            ) { try emit(.bytes($0)) }
        }
    }

    /// Whether `output.weight` is the embedding bit for bit (Llama 3.2 1B/3B tie them), so the
    /// file can drop it as llama.cpp's converter does.
    static func isTiedOutput(_ source: any TensorSource) throws -> Bool {
        guard let output = source.info(named: "output.weight"),
            let embedding = source.info(named: "tok_embeddings.weight"),
            output.shape == embedding.shape, output.dtype == embedding.dtype
        else { return false }
        // Shard by shard when both are split alike, so neither is assembled.
        let outputs = try rowSlices(of: "output.weight", in: source)
        let embeddings = try rowSlices(of: "tok_embeddings.weight", in: source)
        let pairs =
            outputs.count == embeddings.count
            ? Array(zip(outputs, embeddings))
            : [(TensorParts.Part(source: source, name: "output.weight"), TensorParts.Part(source: source, name: "tok_embeddings.weight"))]
        for (output, embedding) in pairs where try !bytesEqual(output, embedding) { return false }
        return true
    }

    private static func bytesEqual(_ a: TensorParts.Part, _ b: TensorParts.Part) throws -> Bool {
        try a.source.withBytes(of: a.name) { left in
            try b.source.withBytes(of: b.name) { right in
                left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    /// Every tensor's GGUF name and type, chosen by `QuantizationMix` over the file's tensor
    /// list (1-D tensors and norms F32), plus `rope_freqs.weight` for Llama 3.1 scaling.
    private static func plan(
        _ source: any TensorSource, config: LlamaConfig, options: Options, request: QuantizationRequest, droppingOutput: Bool,
        ropeScaling: Double?
    ) throws -> ([Planned], MixPlan) {
        var plan: [Planned] = []
        for info in options.vocabOnly ? [] : canonicalOrder(source.tensorInfos, config: config) {
            guard let name = GGUFNames.gguf(for: info.name), !(droppingOutput && info.name == "output.weight") else { continue }
            plan.append(Planned(gguf: name, meta: info.name, shape: info.shape, type: .f32))
        }
        if ropeScaling != nil && !options.vocabOnly {
            plan.append(Planned(gguf: "rope_freqs.weight", meta: nil, shape: [config.headDim / 2], type: .f32))
        }
        let facts = MixModelFacts(blockCount: config.layerCount, headCount: config.headCount, headCountKV: config.kvHeadCount)
        let mix = try request.plan(plan.map { ($0.gguf, $0.shape) }, model: facts)
        for index in plan.indices { plan[index].type = mix.tensors[index].type }
        return (plan, mix)
    }

    /// Tensors in the order of Meta's state dict (embedding, layer by layer, norm, output), so a
    /// model gives the same file whichever layout it was read from (an HF directory lists its
    /// tensors by dtype and name). Names outside Meta's model keep their order, after it.
    static func canonicalOrder(_ infos: [TensorInfo], config: LlamaConfig) -> [TensorInfo] {
        let expected = config.expectedShapes.map(\.name)
        let metaOrder = [expected[0]] + expected.dropFirst(3) + expected[1..<3]
        let rank = Dictionary(uniqueKeysWithValues: metaOrder.enumerated().map { ($1, $0) })
        return infos.enumerated().sorted { (rank[$0.element.name] ?? Int.max, $0.offset) < (rank[$1.element.name] ?? Int.max, $1.offset) }
            .map(\.element)
    }

    /// The `general.*` and `llama.*` keys with the value types gguf-py writes, the tokenizer's
    /// keys, and the planned tensors.
    private static func header(
        config: LlamaConfig, tokenizer: (any Tokenizer)?, options: Options, request: QuantizationRequest, plan: [Planned]
    ) throws -> GGUFWriter {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        writer.add("general.type", .string("model"))
        writer.add("general.name", .string(options.name))
        writer.add("llama.block_count", .u32(UInt32(config.layerCount)))
        writer.add("llama.context_length", .u32(UInt32(config.contextLength)))
        writer.add("llama.embedding_length", .u32(UInt32(config.dim)))
        writer.add("llama.feed_forward_length", .u32(UInt32(config.ffnHiddenSize)))
        writer.add("llama.attention.head_count", .u32(UInt32(config.headCount)))
        writer.add("llama.attention.head_count_kv", .u32(UInt32(config.kvHeadCount)))
        writer.add("llama.rope.freq_base", .f32(Float(config.ropeTheta)))
        writer.add("llama.attention.layer_norm_rms_epsilon", .f32(Float(config.normEps)))
        writer.add("llama.rope.dimension_count", .u32(UInt32(config.headDim)))
        writer.add("llama.vocab_size", .u32(UInt32(config.vocabSize)))
        writer.add("general.file_type", .u32(options.type.fileType))
        if let tokenizer = tokenizer as? Llama3Tokenizer {
            for (key, value) in TokenizerMetadata.llama3(tokenizer, instruct: options.chat.instruct) { writer.add(key, value) }
        } else if let tokenizer = tokenizer as? SentencePieceTokenizer {
            for (key, value) in TokenizerMetadata.llama2(tokenizer) { writer.add(key, value) }
        }
        if tokenizer != nil, let template = options.chat.template { writer.add("tokenizer.chat_template", .string(template)) }
        writer.add("general.quantization_version", .u32(2))
        for (key, value) in request.metadata { writer.add(key, value) }
        for tensor in plan { try writer.addTensor(name: tensor.gguf, shape: tensor.shape, type: tensor.type) }
        return writer
    }

    /// llama.cpp's `rope_freqs` divisors for Llama 3.1 scaling (`docs/formats.md` §3.6): f_i in f32, the factor
    /// arithmetic in double, stored f32 — as convert_hf_to_gguf computes them.
    public static func ropeFreqs(headDim: Int, theta: Double, factor: Double) -> [Float] {
        let lowFreqWavelen = 8192.0 / 1.0
        let highFreqWavelen = 8192.0 / 4.0
        return stride(from: 0, to: headDim, by: 2).map { i in
            let frequency = Float(1) / powf(Float(theta), Float(i) / Float(headDim))
            let wavelen = 2 * Double.pi / Double(frequency)
            if wavelen < highFreqWavelen { return 1 }
            if wavelen > lowFreqWavelen { return Float(factor) }
            let smooth = (8192.0 / wavelen - 1) / (4 - 1)
            return Float(1 / ((1 - smooth) / factor + smooth))
        }
    }
}
