import BinaryIO
import GGUF
import Llama
import LlamaTokenizers
import ModelLoading
import Quantization
import Safetensors
import TensorCore

/// Any checkpoint → a Hugging Face directory transformers loads (`docs/hf-format.md`):
/// safetensors shards under HF names with q/k rows in HF's rotary order, the index,
/// config.json, generation_config.json and the tokenizer files (tokenizer.json,
/// tokenizer_config.json with the chat template for instruct models, special_tokens_map.json). One tensor at a time (a Meta
/// shard set is merged per tensor by its source); every file is written beside its target and
/// all are renamed into place only when the last one is complete.
public enum HFExporter {
    public struct Options: Sendable {
        /// bf16, f16 or f32.
        public var type: ConversionType
        /// A shard is closed before a tensor would take it past this many bytes (transformers'
        /// `max_shard_size`; 5 GB by default).
        public var maxShardBytes: Int
        /// Instruct/chat model (eos ids and generation defaults as transformers' converter writes
        /// them) and its chat template.
        public var chat: ChatSetup
        /// Meta's sentencepiece `tokenizer.model`, copied beside tokenizer.json as Llama 2
        /// repositories carry it: its piece scores are not in tokenizer.json.
        public var sentencePieceModel: String?
        public var threads: Int
        public var sync: Bool

        public init(
            type: ConversionType = .bf16, maxShardBytes: Int = 5_000_000_000, chat: ChatSetup = ChatSetup(template: nil, instruct: false),
            sentencePieceModel: String? = nil,
            threads: Int = 1, sync: Bool = true
        ) {
            self.type = type
            self.maxShardBytes = maxShardBytes
            self.chat = chat
            self.sentencePieceModel = sentencePieceModel
            self.threads = threads
            self.sync = sync
        }
    }

    public struct Summary: Sendable {
        /// Every file written, by name.
        public var files: [String]
        public var tensorCount: Int
        public var shardCount: Int
        public var tiedEmbedding: Bool
        public var bytes: Int
    }

    /// The weight types an HF directory holds.
    public static let types: [ConversionType] = [.bf16, .f16, .f32]

    struct Planned {
        var meta: String
        var tensor: SafetensorsWriter.Tensor
    }

    /// - Parameter progress: called before each tensor with (index, count, HF name).
    /// - Throws: `InputError` for an unsupported type, a tensor that cannot be converted (naming
    ///   it), or a file that cannot be written; nothing is left in `directory` then.
    public static func export(
        source: any TensorSource, config: LlamaConfig, tokenizer: (any Tokenizer)?, options: Options, to directory: String,
        progress: ((Int, Int, String) -> Void)? = nil
    ) throws -> Summary {
        guard types.contains(options.type), let dtype = DType(rawValue: options.type.rawValue) else {
            throw InputError(.unsupported, "an HF directory holds bf16, f16 or f32 weights, not \(options.type.rawValue)")
        }
        try FileSystem.createDirectory(directory)
        let tied = try Converter.isTiedOutput(source)
        let plan = try Self.plan(source, config: config, dtype: dtype, tied: tied)
        let shards = Self.shards(plan, maxBytes: options.maxShardBytes)
        var outputs: [AtomicOutputFile] = []
        var written = 0
        var scratch = Scratch()
        for (number, shard) in shards.enumerated() {
            let name =
                shards.count == 1 ? "model.safetensors" : "model-\(fiveDigits(number + 1))-of-\(fiveDigits(shards.count)).safetensors"
            let writer = SafetensorsWriter(tensors: shard.map(\.tensor))
            outputs.append(
                try writer.prepare(at: FileSystem.join(directory, name)) { tensor, output in
                    let planned = shard.first { $0.tensor.name == tensor.name }!
                    progress?(written, plan.count, tensor.name)
                    written += 1
                    try write(planned, from: source, config: config, into: output, threads: options.threads, scratch: &scratch)
                })
        }
        var files = outputs.map { FileSystem.baseName($0.path) }
        if shards.count > 1 {
            let index = SafetensorsIndex(
                weightMap: zip(shards.indices, shards).flatMap { number, shard in shard.map { ($0.tensor.name, files[number]) } }
                    .sorted { $0.0 < $1.0 },
                totalSize: plan.reduce(0) { $0 + $1.tensor.byteCount },
                totalParameters: plan.reduce(0) { $0 + $1.tensor.shape.reduce(1, *) })
            outputs.append(try prepared(index.bytes(), at: FileSystem.join(directory, SafetensorsIndex.fileName)))
        }
        let ids = tokenIDs(tokenizer: tokenizer, config: config, chat: options.chat.instruct)
        let hfConfig = HFConfig(config: config, tied: tied, bosTokenID: ids.bos, eosTokenIDs: ids.eos)
        outputs.append(try prepared(hfConfig.json(dtype: dtype.torchName), at: FileSystem.join(directory, HFConfig.fileName)))
        outputs.append(
            try prepared(hfConfig.generationJSON(chat: options.chat.instruct), at: FileSystem.join(directory, "generation_config.json")))
        if let tokenizer {
            let files = try HFTokenizerJSON.write(tokenizer, options: tokenizerOptions(tokenizer, config: config, chat: options.chat))
            for (name, bytes) in files.named { outputs.append(try prepared(bytes, at: FileSystem.join(directory, name))) }
            if tokenizer is SentencePieceTokenizer, let model = options.sentencePieceModel, model.hasSuffix(".model") {
                let bytes = try FileSystem.read(model, limit: TiktokenRanks.maxFileBytes)
                outputs.append(try prepared(bytes, at: FileSystem.join(directory, "tokenizer.model")))
            }
        }
        files = outputs.map { FileSystem.baseName($0.path) }
        for output in outputs { try output.commit(sync: options.sync) }
        removeStaleShards(in: directory, keeping: Set(files))
        return Summary(
            files: files, tensorCount: plan.count, shardCount: shards.count, tiedEmbedding: tied,
            bytes: outputs.reduce(0) { $0 + $1.bytesWritten })
    }

    /// HF tensors in transformers' state-dict order (embedding, layer by layer, norm, head), so
    /// shards hold the tensors `save_pretrained` would put in them.
    static func plan(_ source: any TensorSource, config: LlamaConfig, dtype: DType, tied: Bool) throws -> [Planned] {
        try source.tensorInfos.compactMap { info -> Planned? in
            guard let name = HFNames.hf(for: info.name), !(tied && info.name == "output.weight") else { return nil }
            guard info.dtype.isFloatingPoint, !info.dtype.isBlockQuantized || BlockFormat(info.dtype) != nil else {
                throw InputError(.unsupported, "cannot convert \(info.dtype.rawValue) to \(dtype.rawValue)", at: .tensor(info.name))
            }
            return Planned(meta: info.name, tensor: .init(name: name, dtype: dtype, shape: info.shape))
        }.sorted { HFNames.stateDictOrder($0.tensor.name) < HFNames.stateDictOrder($1.tensor.name) }
    }

    /// transformers' sharding: tensors in order, a new shard when the next would overflow this one.
    static func shards(_ plan: [Planned], maxBytes: Int) -> [[Planned]] {
        var shards: [[Planned]] = [[]]
        var size = 0
        for planned in plan {
            if size + planned.tensor.byteCount > maxBytes && !shards[shards.count - 1].isEmpty {
                shards.append([])
                size = 0
            }
            shards[shards.count - 1].append(planned)
            size += planned.tensor.byteCount
        }
        return shards
    }

    struct Scratch {
        var values: [Float] = []
        var encoded: [UInt8] = []
    }

    private static func write(
        _ planned: Planned, from source: any TensorSource, config: LlamaConfig, into output: AtomicOutputFile, threads: Int,
        scratch: inout Scratch
    ) throws {
        let info = source.info(named: planned.meta)!
        let permuted = HFNames.isRotaryPermuted(meta: planned.meta)
        if !permuted, info.dtype == planned.tensor.dtype, let range = try source.storedRange(of: planned.meta) {
            try output.copy(from: range.file, offset: range.offset, count: range.count)
            return
        }
        try source.withBytes(of: planned.meta) { raw in
            try inHFRowOrder(raw, info: info, permuted: permuted, headDim: config.headDim) { rows in
                if info.dtype == planned.tensor.dtype { return try output.write(rows) }
                try TensorEncoder.encodeTensor(
                    rows, dtype: info.dtype, count: info.elementCount, as: planned.tensor.dtype.ggmlFloatType, name: planned.meta,
                    threads: threads, scratch: &scratch.values, encoded: &scratch.encoded
                ) { try output.write($0) }
            }
        }
    }

    /// `raw` with q/k rows moved to HF's rotary order when `permuted`.
    private static func inHFRowOrder(
        _ raw: UnsafeRawBufferPointer, info: TensorInfo, permuted: Bool, headDim: Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        guard permuted, raw.count > 0 else { return try body(raw) }
        guard info.shape.count == 2, info.shape[0] % headDim == 0, !info.dtype.isBlockQuantized else {
            throw InputError(
                .mismatch, "expected a 2-D tensor of whole heads of \(headDim) rows, found \(info.shape)", at: .tensor(info.name))
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: raw.count, alignment: 64)
        defer { buffer.deallocate() }
        RotaryPermutation.permuteRows(raw, into: buffer, rowBytes: raw.count / info.shape[0], headDim: headDim, direction: .metaToHF)
        try body(UnsafeRawBufferPointer(buffer))
    }

    /// bos and eos ids as transformers' converter writes them (`docs/hf-format.md` §4): for an
    /// instruct Llama 3 model every id that ends a turn (end of text, end of message, end of
    /// turn: 128001, 128008, 128009 in Meta's vocabulary), taken from the tokenizer.
    static func tokenIDs(tokenizer: (any Tokenizer)?, config: LlamaConfig, chat: Bool) -> (bos: Int?, eos: [Int]) {
        let isLlama3 = [.llama3, .llama3_1, .llama3_2].contains(config.family)
        guard let tokenizer else {
            return (isLlama3 ? 128_000 : 1, chat && isLlama3 ? [128_001, 128_008, 128_009] : [isLlama3 ? 128_001 : 2])
        }
        guard chat, isLlama3 else { return (tokenizer.bosID, [tokenizer.eosID]) }
        return (tokenizer.bosID, [tokenizer.eosID] + tokenizer.stopIDs.subtracting([tokenizer.eosID]).sorted())
    }

    /// The chat template and end-of-turn eos for instruct models, the context length as
    /// `model_max_length`.
    static func tokenizerOptions(_ tokenizer: any Tokenizer, config: LlamaConfig, chat: ChatSetup) -> HFTokenizerJSON.WriteOptions {
        let eos = chat.instruct && tokenizer is Llama3Tokenizer ? "<|eot_id|>" : nil
        return .init(eosToken: eos, chatTemplate: chat.template, modelMaxLength: config.contextLength)
    }

    private static func fiveDigits(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    private static func prepared(_ bytes: [UInt8], at path: String) throws -> AtomicOutputFile {
        let output = try AtomicOutputFile(path: path)
        try output.write(bytes)
        return output
    }

    /// Shards of an earlier export with another shard count would otherwise sit beside the new
    /// ones; transformers' `save_pretrained` removes them the same way.
    private static func removeStaleShards(in directory: String, keeping: Set<String>) {
        guard let names = try? FileSystem.contents(of: directory) else { return }
        for name in names where !keeping.contains(name) {
            let isShard = name.hasPrefix("model-") && name.hasSuffix(".safetensors") && name.contains("-of-")
            if isShard || name == "model.safetensors" || name == SafetensorsIndex.fileName {
                _ = try? FileSystem.remove(FileSystem.join(directory, name))
            }
        }
    }
}

extension DType {
    /// The GGUF element type of an HF weight dtype.
    fileprivate var ggmlFloatType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        default: return .bf16
        }
    }
}
