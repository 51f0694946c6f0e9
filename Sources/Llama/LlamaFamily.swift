/// The released Llama generations, told apart as in `docs/formats.md` §2.9.
public enum LlamaFamily: String, Sendable, Codable, CaseIterable {
    case llama1 = "LLaMA-1"
    case llama2 = "Llama 2"
    case llama3 = "Llama 3"
    case llama3_1 = "Llama 3.1"
    case llama3_2 = "Llama 3.2"

    /// The trained context length (`docs/formats.md` §2.8); params.json does not carry it.
    public var contextLength: Int {
        switch self {
        case .llama1: return 2048
        case .llama2: return 4096
        case .llama3: return 8192
        case .llama3_1, .llama3_2: return 131_072
        }
    }
}
