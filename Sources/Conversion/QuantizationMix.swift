import BinaryIO
import GGUF
import Llama

/// What llama.cpp's mix rules read from the model's hyperparameters (`llama.*` keys).
public struct MixModelFacts: Sendable, Equatable {
    /// `llama.block_count`: llama.cpp's `n_layer`, the denominator of the ffn_down rules.
    public var blockCount: Int
    /// `llama.attention.head_count`.
    public var headCount: Int
    /// `llama.attention.head_count_kv`.
    public var headCountKV: Int

    public init(blockCount: Int, headCount: Int, headCountKV: Int) {
        self.blockCount = blockCount
        self.headCount = headCount
        self.headCountKV = headCountKV
    }

    /// The facts of a model LlamaKit read (a checkpoint's params.json or a GGUF's `llama.*` keys).
    public init(_ config: LlamaConfig) {
        self.init(blockCount: config.layerCount, headCount: config.headCount, headCountKV: config.kvHeadCount)
    }

    /// Query heads per key/value head, as llama.cpp's `n_gqa()` (integer division; 0 without
    /// key/value heads).
    public var gqa: Int { headCountKV == 0 ? 0 : headCount / headCountKV }

    /// llama.cpp's `LLM_TYPE_70B` for the llama architecture: 80 layers and fewer key/value heads
    /// than query heads (80 layers without GQA is its 65B). Decided by these two facts alone.
    public var is70B: Bool { blockCount == 80 && headCount != headCountKV }
}

/// The user's say over the mix: llama-quantize's `--output-tensor-type`,
/// `--token-embedding-type`, `--pure` and `--tensor-type PATTERN=TYPE`.
public struct TensorTypeOverrides: Sendable, Equatable {
    /// One `--tensor-type`: a regular expression searched for in the GGUF tensor name.
    public struct Pattern: Sendable, Equatable {
        public var pattern: String
        public var type: GGMLType

        public init(pattern: String, type: GGMLType) {
            self.pattern = pattern
            self.type = type
        }
    }

    /// The type of `output.weight`, and of `token_embd.weight` when the output is tied to it.
    public var outputType: GGMLType?
    /// The type of `token_embd.weight` (wins over `outputType` for a tied embedding).
    public var tokenEmbeddingType: GGMLType?
    /// Every quantized weight in the preset's default type: no mix rule (overrides still apply).
    public var pure: Bool
    /// Tried in order; the first that matches a name decides its type.
    public var patterns: [Pattern]

    public init(outputType: GGMLType? = nil, tokenEmbeddingType: GGMLType? = nil, pure: Bool = false, patterns: [Pattern] = []) {
        self.outputType = outputType
        self.tokenEmbeddingType = tokenEmbeddingType
        self.pure = pure
        self.patterns = patterns
    }

    public static let none = TensorTypeOverrides()

    /// The types an override may name: those LlamaKit has that llama-quantize writes.
    public static let namableTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    /// A type name as llama-quantize reads it: ggml's name, any case (`q8_0`, `Q4_K`, `bf16`).
    /// - Throws: `InputError(.malformed)` for any other name.
    public static func type(named name: String) throws -> GGMLType {
        guard let type = namableTypes.first(where: { $0.name == name.lowercased() }) else {
            throw InputError(
                .malformed, "unknown tensor type '\(name)' (expected one of \(namableTypes.map(\.name).joined(separator: ", ")))")
        }
        return type
    }

    /// One `--tensor-type` argument, `PATTERN=TYPE`, read as llama-quantize reads it: split at
    /// the first `=`, the pattern lowercased, the type by `type(named:)`, the pattern compiled.
    /// - Throws: `InputError(.malformed)` for a missing `=`, pattern or type, an unknown type or
    ///   a pattern that is not a regular expression.
    public static func pattern(parsing argument: String) throws -> Pattern {
        guard let equals = argument.firstIndex(of: "=") else {
            throw InputError(.malformed, "tensor type '\(argument)' is not PATTERN=TYPE")
        }
        let pattern = String(argument[..<equals]).lowercased()
        let name = String(argument[argument.index(after: equals)...])
        guard !pattern.isEmpty else { throw InputError(.malformed, "tensor type '\(argument)' has no pattern") }
        guard !name.isEmpty else { throw InputError(.malformed, "tensor type '\(argument)' has no type") }
        let parsed = Pattern(pattern: pattern, type: try type(named: name))
        _ = try QuantizationMix.compile(parsed.pattern)
        return parsed
    }
}

/// One tensor's type in a plan.
public struct PlannedType: Sendable, Equatable {
    /// Why a tensor did not get the type the rules chose: its rows (GGUF's `ne[0]`, the last
    /// element of LlamaKit's shape) are not whole blocks of it.
    public struct Fallback: Sendable, Equatable, CustomStringConvertible {
        public var wanted: GGMLType
        public var rowLength: Int

        public var description: String {
            "rows of \(rowLength) are not whole \(wanted.name) blocks of \(wanted.layout.elements)"
        }
    }

    public var name: String
    public var type: GGMLType
    /// Set when the row length forced a different type than the rules chose.
    public var fallback: Fallback?

    public init(name: String, type: GGMLType, fallback: Fallback? = nil) {
        self.name = name
        self.type = type
        self.fallback = fallback
    }
}

/// The tensor types of a preset, chosen as llama.cpp's llama-quantize chooses them.
public struct MixPlan: Sendable, Equatable {
    /// One per input tensor, in the input's order.
    public var tensors: [PlannedType]
    /// `general.file_type`: the preset's, whatever the overrides did (as llama.cpp writes it).
    public var fileType: UInt32

    /// The tensors whose row length forced a fallback type.
    public var fallbacks: [PlannedType] { tensors.filter { $0.fallback != nil } }
}

/// llama.cpp's per-tensor type choice (`src/llama-quant.cpp`: `llama_tensor_get_type`,
/// `llama_tensor_get_type_impl`, `tensor_type_fallback`) for the dense llama architecture,
/// without an importance matrix. `docs/quantization-mixes.md` states the rules.
public enum QuantizationMix {
    /// The type of every tensor of a model quantized with `preset`.
    ///
    /// - Parameters:
    ///   - tensors: GGUF names (`token_embd.weight`, `blk.3.attn_v.weight`, …) and shapes in
    ///     LlamaKit's row-major order, so the row length is the last element. A tied model has no
    ///     `output.weight`; its `token_embd.weight` then follows the output's rules.
    /// - Throws: `InputError(.malformed)` for a pattern that is not a regular expression;
    ///   `InputError(.mismatch)` when `outputType` or `tokenEmbeddingType` names a block type
    ///   the tensor's rows are not whole blocks of (llama.cpp applies no fallback to those and
    ///   fails while quantizing).
    public static func plan(
        tensors: [(name: String, shape: [Int])], preset: ConversionType, model: MixModelFacts, overrides: TensorTypeOverrides = .none,
        withImportance: Bool = false
    ) throws -> MixPlan {
        let patterns = try overrides.patterns.map { (regex: try compile($0.pattern), type: $0.type) }
        var state = State(
            preset: preset, model: model, overrides: overrides,
            attentionVCount: tensors.count { Category(name: $0.name) == .attentionV },
            tiedEmbedding: !tensors.contains { $0.name == "output.weight" }, withImportance: withImportance)
        var planned = [PlannedType?](repeating: nil, count: tensors.count)
        // llama.cpp walks the tensors by layer number, then name (its weights map's order): the
        // attn_v and ffn_down counters below depend on it, not on the file's order.
        for index in tensors.indices.sorted(by: { processedBefore(tensors[$0].name, tensors[$1].name) }) {
            let (name, shape) = tensors[index]
            planned[index] = try state.type(of: name, shape: shape, patterns: patterns)
        }
        return MixPlan(tensors: planned.map { $0! }, fileType: preset.fileType)
    }

    /// A `--tensor-type` pattern compiled. Swift's regex syntax stands in for the ECMAScript
    /// `std::regex` llama.cpp uses: they agree on what users write (literals, `.`, `*`, `+`, `?`,
    /// classes, `|`, groups, `^`, `$`, `\d`); Swift also accepts constructs ECMAScript refuses
    /// (lookbehind, possessive quantifiers, named properties).
    static func compile(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        do {
            return try Regex(pattern)
        } catch {
            throw InputError(.malformed, "tensor type pattern '\(pattern)' is not a regular expression: \(error)")
        }
    }

    /// llama.cpp's weights order: `blk.N.` tensors by N (others first, as layer -1), then by
    /// the bytes of the name.
    static func processedBefore(_ a: String, _ b: String) -> Bool {
        let (layerA, layerB) = (layer(of: a), layer(of: b))
        if layerA != layerB { return layerA < layerB }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// N of a `blk.N.…` name as `sscanf(name, "blk.%d.")` reads it, else -1.
    static func layer(of name: String) -> Int {
        guard name.hasPrefix("blk.") else { return -1 }
        var rest = Substring(name.dropFirst(4))
        var sign = 1
        if let first = rest.first, first == "-" || first == "+" {
            sign = first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard let value = Int(digits) else { return -1 }
        return sign * value
    }

    /// llama.cpp's tensor categories that the llama rules use.
    enum Category: Equatable {
        case tokenEmbedding, output, attentionQ, attentionK, attentionV, attentionOutput, ffnUp, ffnGate, ffnDown, other

        init(name: String) {
            if name == "output.weight" {
                self = .output
            } else if name == "token_embd.weight" {
                self = .tokenEmbedding
            } else if name.contains("attn_v.weight") {
                self = .attentionV
            } else if name.contains("attn_k.weight") {
                self = .attentionK
            } else if name.contains("attn_q.weight") {
                self = .attentionQ
            } else if name.contains("attn_output.weight") {
                self = .attentionOutput
            } else if name.contains("ffn_up") {
                self = .ffnUp
            } else if name.contains("ffn_gate") {
                self = .ffnGate
            } else if name.contains("ffn_down") {
                self = .ffnDown
            } else {
                self = .other
            }
        }
    }

    /// Whether llama.cpp quantizes the tensor at all (`tensor_allows_quantization`, llama
    /// names): at least 2-D (a dimension of 1 does not count), a name ending in `weight`, not a norm.
    static func isQuantizable(_ name: String, shape: [Int]) -> Bool {
        shape.drop { $0 == 1 }.count >= 2 && name.hasSuffix("weight") && !name.contains("_norm.weight")
    }

    /// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third in
    /// between get a bigger type in the _M mixes.
    static func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// The walk's state: llama.cpp's counters advance only for tensors the mix rules see.
    struct State {
        let preset: ConversionType
        let model: MixModelFacts
        let overrides: TensorTypeOverrides
        let attentionVCount: Int
        let tiedEmbedding: Bool
        /// Whether an importance matrix is used (llama.cpp's `has_imatrix`).
        let withImportance: Bool
        var attentionVSeen = 0
        var ffnDownSeen = 0

        init(
            preset: ConversionType, model: MixModelFacts, overrides: TensorTypeOverrides, attentionVCount: Int, tiedEmbedding: Bool,
            withImportance: Bool
        ) {
            self.preset = preset
            self.model = model
            self.overrides = overrides
            self.attentionVCount = attentionVCount
            self.tiedEmbedding = tiedEmbedding
            self.withImportance = withImportance
        }

        /// `llama_tensor_get_type`: explicit token-embedding/output types, then (for a quantized
        /// preset) the first matching pattern or else the mix rules, then the row fallback.
        mutating func type(of name: String, shape: [Int], patterns: [(regex: Regex<AnyRegexOutput>, type: GGMLType)]) throws
            -> PlannedType
        {
            // Norms, rope_freqs and other vectors: LlamaKit writes them F32 (llama.cpp keeps them as stored).
            guard isQuantizable(name, shape: shape) else { return PlannedType(name: name, type: .f32) }
            let category = Category(name: name)
            let rowLength = shape.last ?? 0
            if let type = overrides.tokenEmbeddingType, category == .tokenEmbedding {
                return try exactly(type, name: name, rowLength: rowLength, option: "token embedding type")
            }
            if let type = overrides.outputType, category == .output {
                return try exactly(type, name: name, rowLength: rowLength, option: "output tensor type")
            }
            let preset = preset.ggmlType
            guard preset.layout.elements > 1 else { return PlannedType(name: name, type: preset) }
            var type = preset
            if let match = patterns.first(where: { name.contains($0.regex) }) {
                type = match.type
            } else if !overrides.pure {
                type = rule(category, type, rowLength: rowLength)
            }
            return Self.fittingRows(type, name: name, rowLength: rowLength)
        }

        /// A type the user named for the embedding or output, taken as is (llama.cpp applies no
        /// fallback to these).
        private func exactly(_ type: GGMLType, name: String, rowLength: Int, option: String) throws -> PlannedType {
            guard type.layout.holdsWholeBlocks(rowLength) else {
                throw InputError(
                    .mismatch,
                    "\(option) \(type.name) needs rows in whole blocks of \(type.layout.elements); \(name) has rows of \(rowLength)",
                    at: .tensor(name))
            }
            return PlannedType(name: name, type: type)
        }

        /// `llama_tensor_get_type_impl` for dense llama and the presets LlamaKit has.
        private mutating func rule(_ category: Category, _ preset: GGMLType, rowLength: Int) -> GGMLType {
            var type = preset
            if category == .output || (tiedEmbedding && category == .tokenEmbedding) {
                if let output = overrides.outputType {
                    type = output
                } else if !type.layout.holdsWholeBlocks(rowLength) {
                    type = .q8_0
                } else if type != .q8_0 {
                    type = .q6_K
                }
            } else if category == .attentionV {
                switch self.preset {
                case .q2_K: type = model.gqa >= 4 ? .q4_K : .q3_K
                case .q3_K_M: type = attentionVSeen < 2 ? .q5_K : .q4_K
                case .q3_K_L: type = .q5_K
                case .q4_K_M, .q5_K_M: if useMoreBits(attentionVSeen, attentionVCount) { type = .q6_K }
                case .q4_K_S: if attentionVSeen < 4 { type = .q5_K }
                default: break
                }
                // In a 70B, 8 query heads share each V: more bits for it cost little.
                if model.is70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
                attentionVSeen += 1
            } else if category == .ffnDown {
                let (layer, layers) = (ffnDownSeen, model.blockCount)
                switch self.preset {
                case .q2_K: type = .q3_K
                case .q3_K_M: type = layer < layers / 16 ? .q5_K : .q4_K
                case .q3_K_L: type = .q5_K
                case .q4_K_M, .q5_K_M: if useMoreBits(layer, layers) { type = .q6_K }
                case .q4_K_S: if layer < layers / 8 { type = .q5_K }
                // With an importance matrix, the first eighth of ffn_down gets the min-offset type.
                case .q4_0: if withImportance && layer < layers / 8 { type = .q4_1 }
                case .q5_0: if withImportance && layer < layers / 8 { type = .q5_1 }
                default: break
                }
                ffnDownSeen += 1
            } else if category == .attentionOutput {
                switch self.preset {
                case .q2_K: type = .q3_K
                case .q3_K_M: type = .q4_K
                case .q3_K_L: type = .q5_K
                default: break
                }
            }
            return type
        }

        /// `tensor_type_fallback`: a type whose blocks do not tile the rows becomes a 32-element
        /// type of at least as many bits, and F16 when even 32 does not divide the rows.
        static func fittingRows(_ type: GGMLType, name: String, rowLength: Int) -> PlannedType {
            guard !type.layout.holdsWholeBlocks(rowLength) else { return PlannedType(name: name, type: type) }
            var fallback: GGMLType
            switch type {
            case .q2_K, .q3_K: fallback = .q4_0
            case .q4_K: fallback = .q5_0
            case .q5_K: fallback = .q5_1
            case .q6_K: fallback = .q8_0
            default: fallback = type
            }
            if !fallback.layout.holdsWholeBlocks(rowLength) { fallback = .f16 }
            return PlannedType(name: name, type: fallback, fallback: .init(wanted: type, rowLength: rowLength))
        }
    }
}
