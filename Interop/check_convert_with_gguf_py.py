#!/usr/bin/env python3
"""Cross-checks `llamakit convert` output with the ecosystem's own tools (gguf-py, torch).

    python3 Interop/check_convert_with_gguf_py.py CHECKPOINT_DIR OUT.gguf TYPE

Reads OUT.gguf with gguf.GGUFReader and checks: llama.* / general.* keys and their value types as
gguf-py's writer would emit them; every tensor against torch.load of the checkpoint (bf16/f32 bit
for bit, f16 via numpy, q8_0/q4_0 equal to gguf.quants.quantize of the same f32 values); the
tokenizer tokens and (Llama 3) merges rebuilt independently here, transformers-style.
"""
import base64
import json
import os
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType as V, quants

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_py_reads_our_files import gpt2_map, meta_name  # noqa: E402


def merged_state_dict(directory):
    shards = sorted(f for f in os.listdir(directory) if f.startswith("consolidated.") and f.endswith(".pth"))
    sds = [torch.load(os.path.join(directory, s), map_location="cpu", weights_only=True) for s in shards]
    if len(sds) == 1:
        return sds[0]
    merged = {}
    dim = sds[0]["norm.weight"].shape[0]
    for k, v in sds[0].items():
        parts = [sd[k] for sd in sds]
        mod = k.split(".")[-2] if "." in k else k
        if k == "tok_embeddings.weight":
            axis = 1 if v.shape[1] != dim else 0
        elif mod in ("wq", "wk", "wv", "w1", "w3", "output"):
            axis = 0
        elif mod in ("wo", "w2"):
            axis = 1
        else:
            merged[k] = v
            continue
        merged[k] = torch.cat(parts, dim=axis)
    return merged


def main():
    directory, path, target = sys.argv[1], sys.argv[2], sys.argv[3]
    r = GGUFReader(path)
    fields = {k: f for k, f in r.fields.items()}
    problems = []

    def value(key):
        f = fields[key]
        return f.contents()

    expect_types = {"general.architecture": V.STRING, "general.file_type": V.UINT32, "general.quantization_version": V.UINT32,
                    "llama.block_count": V.UINT32, "llama.context_length": V.UINT32, "llama.embedding_length": V.UINT32,
                    "llama.feed_forward_length": V.UINT32, "llama.attention.head_count": V.UINT32,
                    "llama.attention.head_count_kv": V.UINT32, "llama.rope.freq_base": V.FLOAT32,
                    "llama.attention.layer_norm_rms_epsilon": V.FLOAT32, "llama.rope.dimension_count": V.UINT32,
                    "tokenizer.ggml.model": V.STRING, "tokenizer.ggml.bos_token_id": V.UINT32}
    for key, t in expect_types.items():
        if key not in fields or fields[key].types[0] != t:
            problems.append(f"{key}: type {fields[key].types if key in fields else 'missing'}, expected {t.name}")
    params = json.load(open(os.path.join(directory, "params.json")))
    if value("llama.embedding_length") != params["dim"] or value("llama.block_count") != params["n_layers"]:
        problems.append("dims")
    sd = merged_state_dict(directory)
    qtype = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}[target]
    tensors = {t.name: t for t in r.tensors}
    checked = 0
    by_meta = {meta_name(n): n for n in tensors if meta_name(n)}
    for meta, t in sd.items():
        name = by_meta.get(meta)
        if name is None:
            if meta != "rope.freqs":
                problems.append(f"missing {meta}")
            continue
        gt = tensors[name]
        x = t.to(torch.float32).numpy()
        want_type = Q.F32 if t.ndim == 1 else qtype
        if gt.tensor_type != want_type:
            problems.append(f"{name}: {gt.tensor_type.name}, expected {want_type.name}")
            continue
        got = np.asarray(gt.data).reshape(-1).view(np.uint8).tobytes()
        if want_type == Q.BF16:
            expected = t.contiguous().view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else quants.quantize(x, Q.BF16).tobytes()
        elif want_type == Q.F32:
            expected = x.astype("<f4").tobytes()
        elif want_type == Q.F16:
            expected = x.astype(np.float16).tobytes()
        else:
            expected = quants.quantize(x, want_type).tobytes()
        if got != expected:
            problems.append(f"{name}: bytes differ from gguf-py/torch")
        checked += 1
    tok_path = os.path.join(directory, "tokenizer.model")
    head = open(tok_path, "rb").read(1)
    tokens = [str(bytes(fields["tokenizer.ggml.tokens"].parts[i]), "utf-8") for i in fields["tokenizer.ggml.tokens"].data]
    if head != b"\n":
        ranks = {}
        for line in open(tok_path, "rb"):
            if line.strip():
                b64, rank = line.split()
                ranks[base64.b64decode(b64)] = int(rank)
        b2u = gpt2_map()
        ordered = sorted(ranks.items(), key=lambda kv: kv[1])
        if tokens[:len(ordered)] != ["".join(b2u[b] for b in tok) for tok, _ in ordered]:
            problems.append("token strings differ")
        merges = []
        for tok, rank in ordered:
            if len(tok) < 2:
                continue
            local = []
            for i in range(1, len(tok)):
                a, b = tok[:i], tok[i:]
                if a in ranks and b in ranks:
                    local.append((ranks[a], ranks[b], a, b))
            for _, _, a, b in sorted(local):
                merges.append("".join(b2u[c] for c in a) + " " + "".join(b2u[c] for c in b))
        got_merges = [str(bytes(fields["tokenizer.ggml.merges"].parts[i]), "utf-8") for i in fields["tokenizer.ggml.merges"].data]
        if got_merges != merges:
            problems.append(f"merges differ ({len(got_merges)} vs {len(merges)})")
        print(f"tokenizer: {len(tokens)} tokens, {len(merges)} merges checked")
    else:
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=tok_path)
        if tokens != [sp.id_to_piece(i) for i in range(sp.get_piece_size())]:
            problems.append("sentencepiece pieces differ")
        print(f"tokenizer: {len(tokens)} pieces checked")
    print(f"{checked} tensors checked against torch + gguf-py; {len(r.tensors)} in file")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
