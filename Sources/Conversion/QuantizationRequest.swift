import BinaryIO
import GGUF
import ImportanceMatrix
import Quantization

/// What `convert` and `quantize` are asked to write: a preset (llama.cpp's file type), the user's
/// overrides of its mix, and an importance matrix — the choices llama-quantize offers, shared by
/// both commands (`docs/quantization-mixes.md`).
public struct QuantizationRequest: Sendable {
    public var preset: ConversionType
    public var overrides: TensorTypeOverrides
    public var importance: ImportanceMatrix?

    public init(preset: ConversionType, overrides: TensorTypeOverrides = .none, importance: ImportanceMatrix? = nil) {
        self.preset = preset
        self.overrides = overrides
        self.importance = importance
    }

    /// Every tensor's type, as `llama_tensor_get_type` chooses it.
    func plan(_ tensors: [(name: String, shape: [Int])], model: MixModelFacts) throws -> MixPlan {
        try QuantizationMix.plan(tensors: tensors, preset: preset, model: model, overrides: overrides, withImportance: importance != nil)
    }

    /// How a tensor of `shape` written as `type` is quantized: row by row with the matrix's
    /// weights when it has an entry and the type takes them (ggml's `_impl` quantizers), else nil.
    /// A quantized matrix without an entry is added to `missing` (llama.cpp quantizes it without).
    /// - Throws: `InputError` naming the tensor when its entry has another length.
    func rows(for name: String, shape: [Int], type: GGMLType, missing: inout [String]) throws -> TensorEncoder.RowPlan? {
        guard let importance, shape.count == 2, let format = BlockFormat(type.dtype), format.takesImportance else { return nil }
        guard let weights = try importance.weights(for: name, columns: shape[1]) else {
            missing.append(name)
            return nil
        }
        return TensorEncoder.RowPlan(rowLength: shape[1], importance: weights)
    }

    /// The `quantize.imatrix.*` keys llama-quantize records when it used a matrix.
    var metadata: [(String, GGUFValue)] { importance?.ggufKeys ?? [] }
}

/// What a written file holds, for the commands to report.
public struct QuantizationReport: Sendable {
    /// Every tensor's type, in the file's order.
    public var types: [GGMLType]
    /// Tensors that took a fallback type because their rows are not whole blocks.
    public var fallbacks: [PlannedType]
    /// Quantized matrices the importance matrix had no entry for.
    public var withoutImportance: [String]

    init(types: [GGMLType], fallbacks: [PlannedType], withoutImportance: [String]) {
        self.types = types
        self.fallbacks = fallbacks
        self.withoutImportance = withoutImportance
    }

    /// `q4_k × 130, q6_k × 17, f32 × 34`.
    public var typeSummary: String { GGMLType.summary(types) }
}
