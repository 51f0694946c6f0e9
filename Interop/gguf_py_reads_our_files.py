#!/usr/bin/env python3
"""CI interop check (no torch): gguf-py reads every GGUF LlamaKit writes, and finds what we meant.

    python3 Interop/gguf_py_reads_our_files.py LLAMAKIT_BINARY

For each fixture checkpoint and each type, runs `llamakit convert` (and `quantize` from the bf16
file), then reads the result with gguf.GGUFReader and checks: the general.* / llama.* / tokenizer
keys and their value types; bf16 tensors bit-exact against torch's bytes (the FNV-1a 64 hashes in
the fixture's expected.json, recorded by torch); f32/f16 tensors equal numpy's conversion and
Q8_0/Q4_0 blocks equal gguf.quants.quantize of those same values; Llama 3 tokens equal the ranks
file mapped through GPT-2's byte-to-unicode. Exit 1 with a list of problems otherwise.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf import GGUFValueType as V
from gguf import quants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0}
KEY_TYPES = {"general.architecture": V.STRING, "general.file_type": V.UINT32, "general.quantization_version": V.UINT32,
             "llama.block_count": V.UINT32, "llama.context_length": V.UINT32, "llama.embedding_length": V.UINT32,
             "llama.feed_forward_length": V.UINT32, "llama.attention.head_count": V.UINT32,
             "llama.attention.head_count_kv": V.UINT32, "llama.rope.freq_base": V.FLOAT32,
             "llama.attention.layer_norm_rms_epsilon": V.FLOAT32, "llama.rope.dimension_count": V.UINT32,
             "tokenizer.ggml.model": V.STRING, "tokenizer.ggml.tokens": V.ARRAY, "tokenizer.ggml.token_type": V.ARRAY,
             "tokenizer.ggml.bos_token_id": V.UINT32, "tokenizer.ggml.eos_token_id": V.UINT32}
META = {"token_embd.weight": "tok_embeddings.weight", "output_norm.weight": "norm.weight", "output.weight": "output.weight"}
LAYER = {"attn_norm": "attention_norm", "attn_q": "attention.wq", "attn_k": "attention.wk", "attn_v": "attention.wv",
         "attn_output": "attention.wo", "ffn_norm": "ffn_norm", "ffn_gate": "feed_forward.w1",
         "ffn_down": "feed_forward.w2", "ffn_up": "feed_forward.w3"}


def meta_name(gguf):
    if gguf in META:
        return META[gguf]
    if gguf.startswith("blk."):
        _, n, module, _ = gguf.split(".")
        return f"layers.{n}.{LAYER[module]}.weight"
    return None


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def gpt2_map():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def raw(tensor):
    return np.asarray(tensor.data).reshape(-1).view(np.uint8).tobytes()


def check(binary, checkpoint, work):
    problems = []
    expected = json.load(open(os.path.join(ROOT, "fixtures", checkpoint, "expected.json")))["tensors"]
    paths = {}
    for t in TYPES:
        paths[t] = os.path.join(work, f"{checkpoint}-{t}.gguf")
        # --pure: one type on every matrix, so each can be checked against gguf-py's quantizer (the
        # presets' mixes are checked against llama-quantize by kquants_match_llama_quantize.py).
        subprocess.run([binary, "convert", os.path.join(ROOT, "fixtures", checkpoint), "-o", paths[t], "--type", t, "--pure"],
                       check=True, capture_output=True)
    bf16 = GGUFReader(paths["bf16"])
    values = {}
    for tensor in bf16.tensors:
        meta = meta_name(tensor.name)
        if meta is None:
            continue
        data = raw(tensor)
        if tensor.tensor_type == Q.BF16:
            if fnv1a64(data) != expected[meta]["fnv1a64"]:
                problems.append(f"{checkpoint} bf16 {tensor.name}: bytes differ from torch's")
            values[tensor.name] = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            values[tensor.name] = np.frombuffer(data, np.float32)
    for t, qtype in TYPES.items():
        reader = GGUFReader(paths[t])
        for key, vtype in KEY_TYPES.items():
            if key not in reader.fields or reader.fields[key].types[0] != vtype:
                problems.append(f"{checkpoint} {t}: key {key} missing or not {vtype.name}")
        if reader.fields["general.file_type"].contents() != {"f32": 0, "f16": 1, "bf16": 32, "q8_0": 7, "q4_0": 2}[t]:
            problems.append(f"{checkpoint} {t}: general.file_type")
        for tensor in reader.tensors:
            if tensor.name not in values:
                continue
            x = values[tensor.name]
            want = Q.F32 if len(tensor.shape) == 1 else qtype
            if tensor.tensor_type != want:
                problems.append(f"{checkpoint} {t} {tensor.name}: {tensor.tensor_type.name}, expected {want.name}")
                continue
            if want == Q.F32:
                ref = x.astype("<f4").tobytes()
            elif want == Q.F16:
                ref = x.astype(np.float16).tobytes()
            elif want == Q.BF16:
                ref = (x.view(np.uint32) >> 16).astype(np.uint16).tobytes()
            else:
                rows = x.reshape(-1, int(tensor.shape[0]))
                ref = quants.quantize(rows, want).tobytes()
            if raw(tensor) != ref:
                problems.append(f"{checkpoint} {t} {tensor.name}: differs from gguf-py's conversion of the same values")
        # quantize from the bf16 GGUF must give the same file as convert.
        requant = os.path.join(work, f"{checkpoint}-{t}-requant.gguf")
        subprocess.run([binary, "quantize", paths["bf16"], requant, "--type", t, "--pure"], check=True, capture_output=True) if t != "bf16" else None
        if t != "bf16" and open(requant, "rb").read() != open(paths[t], "rb").read():
            problems.append(f"{checkpoint} {t}: quantize from bf16 differs from convert")
    tok = os.path.join(ROOT, "fixtures", checkpoint, "tokenizer.model")
    if open(tok, "rb").read(1) != b"\n":
        ranks = sorted(((base64.b64decode(a), int(b)) for a, b in (l.split() for l in open(tok, "rb") if l.strip())), key=lambda x: x[1])
        b2u = gpt2_map()
        field = bf16.fields["tokenizer.ggml.tokens"]
        tokens = [str(bytes(field.parts[i]), "utf-8") for i in field.data]
        if tokens[:len(ranks)] != ["".join(b2u[c] for c in tok_bytes) for tok_bytes, _ in ranks]:
            problems.append(f"{checkpoint}: token strings differ from the ranks file")
    return problems


def main():
    binary = sys.argv[1]
    problems = []
    with tempfile.TemporaryDirectory() as work:
        for checkpoint in ("llama2-tiny", "llama2-tiny-mp2", "llama3-tiny", "llama3-tiny-mp2", "llama31-tiny"):
            found = check(binary, checkpoint, work)
            problems += found
            print(f"{checkpoint}: {len(TYPES)} types converted, read by gguf-py: {'OK' if not found else 'PROBLEMS'}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
