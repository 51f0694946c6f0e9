/// Meta tensor names ⇄ GGUF names (`docs/formats.md` §3.6). One table for the writer (Meta →
/// GGUF) and the readers that show a GGUF under Meta's names (GGUF → Meta).
public enum GGUFNames {
    static let global: [(meta: String, gguf: String)] = [
        ("tok_embeddings.weight", "token_embd.weight"), ("norm.weight", "output_norm.weight"), ("output.weight", "output.weight"),
    ]
    static let perLayer: [(meta: String, gguf: String)] = [
        ("attention_norm.weight", "attn_norm.weight"), ("attention.wq.weight", "attn_q.weight"), ("attention.wk.weight", "attn_k.weight"),
        ("attention.wv.weight", "attn_v.weight"), ("attention.wo.weight", "attn_output.weight"), ("ffn_norm.weight", "ffn_norm.weight"),
        ("feed_forward.w1.weight", "ffn_gate.weight"), ("feed_forward.w2.weight", "ffn_down.weight"),
        ("feed_forward.w3.weight", "ffn_up.weight"),
    ]

    /// The GGUF name of a Meta tensor; nil for `rope.freqs`, which llama.cpp does not use (it
    /// recomputes frequencies), and for names outside the table.
    public static func gguf(for meta: String) -> String? {
        if let entry = global.first(where: { $0.meta == meta }) { return entry.gguf }
        guard let (layer, module) = LayerName.split(meta, prefix: "layers."), let entry = perLayer.first(where: { $0.meta == module })
        else {
            return nil
        }
        return "blk.\(layer).\(entry.gguf)"
    }

    /// The Meta name of a GGUF tensor, or nil for a name outside the table (`rope_freqs.weight`).
    public static func meta(for gguf: String) -> String? {
        if let entry = global.first(where: { $0.gguf == gguf }) { return entry.meta }
        guard let (layer, module) = LayerName.split(gguf, prefix: "blk."), let entry = perLayer.first(where: { $0.gguf == module }) else {
            return nil
        }
        return "layers.\(layer).\(entry.meta)"
    }

    /// Tensors computed from the hyperparameters that one format stores and the other does not:
    /// Meta's `rope.freqs` (Llama 2 checkpoints; every reader recomputes it from `rope_theta`) and
    /// GGUF's `rope_freqs.weight` (Llama 3.1 scaling factors, from the release's rope scaling).
    public static func isDerived(_ name: String) -> Bool {
        name == "rope.freqs" || name == "rope_freqs.weight"
    }
}
