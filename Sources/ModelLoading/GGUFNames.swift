/// Meta tensor names → GGUF names (`docs/formats.md` §3.6); nil for `rope.freqs`,
/// which llama.cpp does not use (it recomputes frequencies).
public enum GGUFNames {
    public static func gguf(for meta: String) -> String? {
        switch meta {
        case "tok_embeddings.weight": return "token_embd.weight"
        case "norm.weight": return "output_norm.weight"
        case "output.weight": return "output.weight"
        case "rope.freqs": return nil
        default: break
        }
        let parts = meta.split(separator: ".")
        guard parts.count >= 4, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let module = parts[2...].joined(separator: ".")
        let mapped: String
        switch module {
        case "attention_norm.weight": mapped = "attn_norm.weight"
        case "attention.wq.weight": mapped = "attn_q.weight"
        case "attention.wk.weight": mapped = "attn_k.weight"
        case "attention.wv.weight": mapped = "attn_v.weight"
        case "attention.wo.weight": mapped = "attn_output.weight"
        case "ffn_norm.weight": mapped = "ffn_norm.weight"
        case "feed_forward.w1.weight": mapped = "ffn_gate.weight"
        case "feed_forward.w2.weight": mapped = "ffn_down.weight"
        case "feed_forward.w3.weight": mapped = "ffn_up.weight"
        default: return nil
        }
        return "blk.\(layer).\(mapped)"
    }
}
