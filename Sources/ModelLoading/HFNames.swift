/// Meta tensor names ⇄ Hugging Face transformers' `LlamaForCausalLM` names
/// (`docs/hf-format.md` §2). One table for the reader and the writer.
public enum HFNames {
    static let global: [(meta: String, hf: String)] = [
        ("tok_embeddings.weight", "model.embed_tokens.weight"), ("norm.weight", "model.norm.weight"), ("output.weight", "lm_head.weight"),
    ]
    static let perLayer: [(meta: String, hf: String)] = [
        ("attention.wq.weight", "self_attn.q_proj.weight"), ("attention.wk.weight", "self_attn.k_proj.weight"),
        ("attention.wv.weight", "self_attn.v_proj.weight"), ("attention.wo.weight", "self_attn.o_proj.weight"),
        ("feed_forward.w1.weight", "mlp.gate_proj.weight"), ("feed_forward.w3.weight", "mlp.up_proj.weight"),
        ("feed_forward.w2.weight", "mlp.down_proj.weight"), ("attention_norm.weight", "input_layernorm.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ]

    /// The HF name of a Meta tensor, or nil for names HF checkpoints do not carry (`rope.freqs`).
    public static func hf(for meta: String) -> String? {
        if let entry = global.first(where: { $0.meta == meta }) { return entry.hf }
        guard let (layer, module) = LayerName.split(meta, prefix: "layers."), let entry = perLayer.first(where: { $0.meta == module })
        else {
            return nil
        }
        return "model.layers.\(layer).\(entry.hf)"
    }

    /// The Meta name of an HF tensor, or nil for a name outside the table.
    public static func meta(for hf: String) -> String? {
        if let entry = global.first(where: { $0.hf == hf }) { return entry.meta }
        guard let (layer, module) = LayerName.split(hf, prefix: "model.layers."), let entry = perLayer.first(where: { $0.hf == module })
        else {
            return nil
        }
        return "layers.\(layer).\(entry.meta)"
    }

    /// Where an HF tensor comes in transformers' state dict (the order `save_pretrained` shards
    /// in): embedding, each layer's modules as `LlamaDecoderLayer` registers them, norm, head.
    public static func stateDictOrder(_ hf: String) -> (Int, Int) {
        switch hf {
        case "model.embed_tokens.weight": return (-1, 0)
        case "model.norm.weight": return (Int.max, 0)
        case "lm_head.weight": return (Int.max, 1)
        default:
            guard let (layer, module) = LayerName.split(hf, prefix: "model.layers."),
                let index = perLayer.firstIndex(where: { $0.hf == module })
            else { return (Int.max, 2) }
            return (layer, index)
        }
    }

    /// Buffers older transformers versions saved beside the weights; derived, never read.
    public static func isDerivedBuffer(_ hf: String) -> Bool {
        hf.hasSuffix(".rotary_emb.inv_freq")
    }

    /// Whether the tensor's rows are in HF's rotary order (q and k projections).
    public static func isRotaryPermuted(meta: String) -> Bool {
        meta.hasSuffix(".attention.wq.weight") || meta.hasSuffix(".attention.wk.weight")
    }
}
