#!/usr/bin/env python3
"""LlamaKit's K-quant presets against llama.cpp's own `llama-quantize`, tensor by tensor and block by block.

For fixtures/k256 (every 2-D row a whole 256-value super-block) and fixtures/demo (rows of 128 and
352: the fallback types), `llamakit convert --type bf16` writes the base file; then for every preset

  - llama.cpp:  llama-quantize BASE REF.gguf PRESET          (from the BF16 GGUF, as users do)
  - LlamaKit:   llamakit convert CHECKPOINT --type PRESET    (Meta's .pth straight to the preset)
                llamakit quantize BASE --type PRESET         (the same route as llama.cpp)

and every tensor of both LlamaKit files must have llama.cpp's type and llama.cpp's bytes (a count of
differing blocks is printed otherwise), with the same general.file_type. The same again with an
importance matrix that llama-imatrix computes on the base file (--imatrix on both sides; the
quantize.imatrix.* keys compared too). Finally llama.cpp loads LlamaKit's Q4_K_M file and its own,
evaluates the reference tokens, and the logits are compared.

llama.cpp is built from the source llama-cpp-python 0.3.36 vendors, with -ffp-contract=off (the
platform-independent K-quant rounding, docs/formats.md §4.6). Too heavy for CI; run by hand:

    LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin python3 Interop/kquants_match_llama_quantize.py

LLAMA_CPP_BIN must hold llama-quantize and llama-imatrix; the logit check also needs the
llama-cpp-python binding with LLAMA_CPP_LIB_PATH pointing at the same build's libllama.so (it is
skipped, and said so, without it).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMAKIT = os.environ.get("LLAMAKIT", os.path.join(ROOT, ".build", "release", "llamakit"))
BIN = os.environ.get("LLAMA_CPP_BIN", "")
PRESETS = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s",
           "q5_k_m", "q6_k"]
BLOCK = {"Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_0": (32, 34), "Q2_K": (256, 84),
         "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210)}


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def tensors(path):
    reader = GGUFReader(path)
    out = {t.name: (t.tensor_type.name, bytes(t.data.tobytes())) for t in reader.tensors}
    keys = {}
    for field in reader.fields.values():
        if field.name.startswith("quantize.imatrix") or field.name == "general.file_type":
            value = field.parts[field.data[0]]
            keys[field.name] = bytes(value).decode() if field.types[0].name == "STRING" else int(value[0])
    return out, keys


def compare(ours_path, ref_path):
    """(tensors compared, [problems])."""
    ours, ours_keys = tensors(ours_path)
    ref, ref_keys = tensors(ref_path)
    problems = []
    if set(ours) != set(ref):
        problems.append(f"tensor names differ: {sorted(set(ours) ^ set(ref))}")
    for name in sorted(set(ours) & set(ref)):
        (t1, b1), (t2, b2) = ours[name], ref[name]
        if t1 != t2:
            problems.append(f"{name}: {t1} vs llama.cpp {t2}")
        elif b1 != b2:
            elements, size = BLOCK.get(t1, (1, 1))
            differing = sum(b1[i:i + size] != b2[i:i + size] for i in range(0, len(b1), size))
            problems.append(f"{name} ({t1}): {differing} of {len(b1) // size} blocks differ")
    for key in sorted(set(ours_keys) | set(ref_keys)):
        mine, theirs = ours_keys.get(key), ref_keys.get(key)
        # llama-quantize records the path it was given; ours is the same path.
        if mine != theirs:
            problems.append(f"{key}: {mine!r} vs llama.cpp {theirs!r}")
    return len(ref), problems


def logits_check(ours_path, ref_path, tokens):
    try:
        import llama_cpp
    except Exception as error:  # noqa: BLE001
        return f"skipped (no llama-cpp-python binding: {error})"
    result = []
    for path in (ours_path, ref_path):
        llm = llama_cpp.Llama(model_path=path, n_ctx=256, n_batch=256, logits_all=True, verbose=False, n_threads=2,
                              type_k=0, type_v=0)
        llm.eval(tokens)
        result.append(np.array(llm.scores[: len(tokens)], dtype=np.float32))
        del llm
    diff = float(np.abs(result[0] - result[1]).max())
    return f"max |Δlogit| between llama.cpp on LlamaKit's file and on its own: {diff:.3g}" + (" (identical)" if diff == 0 else "")


def main():
    quantize = os.path.join(BIN, "llama-quantize")
    imatrix_tool = os.path.join(BIN, "llama-imatrix")
    if not os.access(quantize, os.X_OK):
        sys.exit("set LLAMA_CPP_BIN to a llama.cpp build's bin directory (llama-quantize, llama-imatrix)")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fixture in ["k256", "demo"]:
            checkpoint = os.path.join(ROOT, "fixtures", fixture)
            base = os.path.join(tmp, f"{fixture}-bf16.gguf")
            run([LLAMAKIT, "convert", checkpoint, "-o", base, "--type", "bf16", "--no-sync"])
            text = os.path.join(tmp, "calibration.txt")
            with open(text, "w") as f:
                f.write(open(os.path.join(ROOT, "fixtures", "imatrix", "real", "calibration.txt")).read()
                        if os.path.exists(os.path.join(ROOT, "fixtures", "imatrix", "real", "calibration.txt"))
                        else "The old dog saw a small boat near the sea and smiled. " * 200)
            matrix = os.path.join(tmp, f"{fixture}.imatrix.gguf")
            run([imatrix_tool, "-m", base, "-f", text, "-o", matrix, "-c", "64", "--chunks", "4", "-t", "2"])
            print(f"== {fixture} (base {os.path.basename(base)}, imatrix from llama-imatrix: {matrix})")
            for preset in PRESETS:
                for with_imatrix in (False, True):
                    extra = ["--imatrix", matrix] if with_imatrix else []
                    ref = os.path.join(tmp, f"{fixture}-{preset}-ref.gguf")
                    run([quantize] + extra + [base, ref, preset.upper(), "2"])
                    for route in ("convert", "quantize"):
                        ours = os.path.join(tmp, f"{fixture}-{preset}-{route}.gguf")
                        if route == "convert":
                            run([LLAMAKIT, "convert", checkpoint, "-o", ours, "--type", preset, "--no-sync"] + extra)
                        else:
                            run([LLAMAKIT, "quantize", base, ours, "--type", preset, "--no-sync"] + extra)
                        count, problems = compare(ours, ref)
                        label = f"{preset:7} {'imatrix' if with_imatrix else '       '} {route:8}"
                        if problems:
                            failures += 1
                            print(f"  {label} FAIL ({len(problems)} of {count} tensors): " + "; ".join(problems[:4]))
                        else:
                            print(f"  {label} {count} tensors: same types, same bytes")
            ref_dir = os.path.join(checkpoint, "reference")
            tokens = np.load(os.path.join(ref_dir, "tokens.npy")).tolist()
            print("  " + logits_check(os.path.join(tmp, f"{fixture}-q4_k_m-convert.gguf"),
                                      os.path.join(tmp, f"{fixture}-q4_k_m-ref.gguf"), tokens))
    print("\nOK" if failures == 0 else f"\n{failures} FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
