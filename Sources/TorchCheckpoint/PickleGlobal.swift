import TensorCore

/// The only globals a checkpoint pickle may name, each resolved to a case; nothing is imported.
///
/// The allowlist of `docs/formats.md` §1.9: rebuild functions (§1.7), storage
/// types and dtypes (§1.8), `collections.OrderedDict`, `torch.Tensor`/`Parameter`, and the few
/// helpers that metadata can need. Anything else is refused with its name and byte offset.
enum PickleGlobal: Equatable, CustomStringConvertible {
    case orderedDict
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3
    case rebuildParameter, rebuildParameterWithState, rebuildFromTypeV2
    case tensorClass, parameterClass
    /// A legacy typed storage class, e.g. `torch.BFloat16Storage`.
    case typedStorage(DType)
    case untypedStorage
    /// A dtype object, e.g. `torch.bfloat16`.
    case dtype(DType)
    case torchSize, torchDevice
    case codecsEncode
    case builtinSet

    static let legacyStorages: [String: DType] = [
        "DoubleStorage": .f64, "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool, "ComplexFloatStorage": .c64,
        "ComplexDoubleStorage": .c128,
    ]

    static let dtypeNames: [String: DType] = Dictionary(
        uniqueKeysWithValues: DType.allCases.filter { !$0.isBlockQuantized }.map { ($0.torchName, $0) })

    /// Resolves `module`.`name`, or nil when it is not on the allowlist.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): self = .rebuildFromTypeV2
        case ("torch", "Tensor"): self = .tensorClass
        case ("torch.nn.parameter", "Parameter"): self = .parameterClass
        case ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage"): self = .untypedStorage
        case ("torch", "Size"): self = .torchSize
        case ("torch", "device"): self = .torchDevice
        case ("_codecs", "encode"): self = .codecsEncode
        case ("__builtin__", "set"), ("builtins", "set"): self = .builtinSet
        case ("torch", _), ("torch.cuda", _):
            if let dtype = PickleGlobal.legacyStorages[name] {
                self = .typedStorage(dtype)
            } else if module == "torch", let dtype = PickleGlobal.dtypeNames[name] {
                self = .dtype(dtype)
            } else {
                return nil
            }
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case .tensorClass: return "torch.Tensor"
        case .parameterClass: return "torch.nn.parameter.Parameter"
        case .typedStorage(let dtype): return "torch typed storage (\(dtype.torchName))"
        case .untypedStorage: return "torch.storage.UntypedStorage"
        case .dtype(let dtype): return "torch.\(dtype.torchName)"
        case .torchSize: return "torch.Size"
        case .torchDevice: return "torch.device"
        case .codecsEncode: return "_codecs.encode"
        case .builtinSet: return "builtins.set"
        }
    }
}
