#!/usr/bin/env python3
"""transformers on Hugging Face directories `llamakit convert --to hf` wrote, and LlamaKit on
directories transformers wrote.

  pip install torch==2.13.0 transformers==5.24.0 safetensors==0.8.0 tokenizers numpy
  python3 Interop/hf_transformers.py            (uses .build/release/llamakit; `make release` first)

1. Export: every fixture checkpoint with Meta reference logits is exported (`--to hf`, bf16 and
   f32); transformers' `LlamaForCausalLM.from_pretrained(dtype=float32)` runs the reference tokens
   and its logits are compared with Meta's stored ones: max |Δ| ≤ 1e-4 × the logit range and
   top-1 agreement 100 %.
2. Tokenizer: transformers' `AutoTokenizer` on the exported directory encodes every string of the
   tokenizer test vectors exactly as Meta's tokenizer (the ids stored in fixtures/tokenizers, made
   with sentencepiece / llama-models' tiktoken tokenizer), BOS included. Skipped for an export
   without tokenizer.json.
3. Import: a LlamaForCausalLM with random weights (GQA, RoPE scaling, several shards) saved by
   transformers' `save_pretrained`; `llamakit verify` passes against the logits transformers
   computes on it.
4. GGUF: `llamakit convert` of the exported HF directory and of Meta's directory give
   byte-identical GGUF files.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
CASES = ["demo", "k256", "llama3-tiny", "llama31-tiny", "llama2-tiny"]
VECTORS = {"llama2-tiny": "llama2-vectors.json"}


def llamakit(*args, allowed=(0,)):
    out = subprocess.run([LLAMAKIT, *args], capture_output=True, text=True)
    if out.returncode not in allowed:
        sys.exit(f"llamakit {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def export_logits(tmp):
    failures = 0
    print(f"1. transformers {transformers.__version__} on our exports\n")
    print(f"{'checkpoint':13} {'type':5} {'positions':>9} {'max |Δ| / range':>15} {'top-1':>7}")
    for name in CASES:
        reference = torch.load(os.path.join(ROOT, "fixtures", name, "reference", "reference.pth"))
        for kind in ["bf16", "f32"]:
            out = os.path.join(tmp, f"{name}-{kind}")
            llamakit("convert", os.path.join(ROOT, "fixtures", name), "-o", out, "--to", "hf", "--type", kind, "--max-shard-size", "300KB")
            model = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32)
            with torch.no_grad():
                logits = model(reference["tokens"].unsqueeze(0)).logits[0]
            want = reference["logits"]
            relative = ((logits - want).abs().max() / (want.max() - want.min())).item()
            top1 = (logits.argmax(-1) == want.argmax(-1)).float().mean().item()
            ok = relative <= 1e-4 and top1 == 1.0
            failures += not ok
            print(f"{name:13} {kind:5} {len(reference['tokens']):9} {relative:15.2e} {top1:7.1%} {'' if ok else 'FAIL'}")
    return failures


def tokenizer_ids(tmp):
    failures = 0
    print("\n2. AutoTokenizer on our tokenizer.json\n")
    for name in CASES:
        out = os.path.join(tmp, f"{name}-bf16")
        if not os.path.exists(os.path.join(out, "tokenizer.json")):
            print(f"{name:13} no tokenizer.json: skipped")
            continue
        vectors = os.path.join(ROOT, "fixtures", "tokenizers", VECTORS.get(name, ""))
        tokenizer = AutoTokenizer.from_pretrained(out)
        if name in VECTORS:
            cases = json.load(open(vectors))["encode"]
        else:
            # Meta's own encoder on the fixture's tokenizer (llama-models' tiktoken Tokenizer).
            from llama_models.llama3.tokenizer import Tokenizer

            meta = Tokenizer(Path(ROOT) / "fixtures" / name / "tokenizer.model")
            texts = ["Hello world", " leading space", "naïve café — 日本語 🙂", "1234567 + 89", "  ", "a\n\nb\tc"]
            cases = [{"text": t, "ids": meta.encode(t, bos=False, eos=False)} for t in texts]
        bad = 0
        for case in cases:
            ids = tokenizer(case["text"])["input_ids"]
            expected = [tokenizer.bos_token_id] + case["ids"] if case["ids"][:1] != [tokenizer.bos_token_id] else case["ids"]
            bad += ids != expected
        failures += bad
        print(f"{name:13} {len(cases) - bad} of {len(cases)} strings encode as Meta's tokenizer {'' if not bad else 'FAIL'}")
    return failures


def import_transformers(tmp):
    print("\n3. llamakit verify on a directory transformers saved\n")
    torch.manual_seed(3)
    config = LlamaConfig(
        hidden_size=128, intermediate_size=352, num_attention_heads=8, num_key_value_heads=2, num_hidden_layers=3, vocab_size=512,
        rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=131072, bos_token_id=0, eos_token_id=1,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192})
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    out = os.path.join(tmp, "from-transformers")
    model.to(torch.bfloat16).save_pretrained(out, max_shard_size="200KB")
    reloaded = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32)
    tokens = torch.randint(0, 512, (200,))
    with torch.no_grad():
        logits = reloaded(tokens.unsqueeze(0)).logits[0].contiguous()
    torch.save({"tokens": tokens, "logits": logits}, os.path.join(tmp, "transformers-logits.pth"))
    result = json.loads(llamakit("verify", out, "--reference", os.path.join(tmp, "transformers-logits.pth"), "--json", allowed=(0, 1)))
    files = len([f for f in os.listdir(out) if f.endswith(".safetensors")])
    print(f"{files} shards, 200 positions: max |Δ| / range {result['relative_max_diff']:.2e}, top-1 {result['top1_agreement']:.1%}: "
          f"{'PASS' if result['pass'] else 'FAIL'}")
    return 0 if result["pass"] else 1


def gguf_identity(tmp):
    failures = 0
    print("\n4. GGUF from the HF export = GGUF from Meta's files\n")
    for name in CASES:
        meta_gguf, hf_gguf = os.path.join(tmp, f"{name}-meta.gguf"), os.path.join(tmp, f"{name}-hf.gguf")
        hf = os.path.join(tmp, f"{name}-bf16")
        tokenizer = [] if os.path.exists(os.path.join(hf, "tokenizer.json")) else None
        if tokenizer is None:
            print(f"{name:13} no tokenizer.json in the export: skipped")
            continue
        llamakit("convert", os.path.join(ROOT, "fixtures", name), "-o", meta_gguf, "--type", "q8_0", "--name", name)
        llamakit("convert", hf, "-o", hf_gguf, "--type", "q8_0", "--name", name)
        same = open(meta_gguf, "rb").read() == open(hf_gguf, "rb").read()
        failures += not same
        print(f"{name:13} q8_0 {'byte-identical' if same else 'DIFFERENT'}")
    return failures


def main():
    with tempfile.TemporaryDirectory() as tmp:
        failures = export_logits(tmp) + tokenizer_ids(tmp) + import_transformers(tmp) + gguf_identity(tmp)
    print(f"\n{'all passed' if failures == 0 else f'{failures} failures'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
