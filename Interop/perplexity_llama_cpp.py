#!/usr/bin/env python3
"""`llamakit perplexity` against llama.cpp's own `llama-perplexity`, on the same GGUF files and text.

The demo and k256 models (trained on the fixtures' grammar, so their perplexity means something)
are converted by llamakit to F32, F16, Q8_0 and Q4_K_M; a held-out grammar text of 400 sentences
(fixtures/make_reference.py's demo_text, seed 4242; about 5,600 tokens) is evaluated with ctx 128
by both tools:

  1. perplexity of every file: llamakit's final PPL against llama-perplexity's "Final estimate"
     (target: within 0.5 %), and the running per-chunk values;
  2. KL divergence of the quantized files against the F32 file as the base, both ways round:
     llamakit reads the base file llama.cpp wrote (`--kl-divergence-base`), and llama.cpp reads the
     one llamakit wrote (`--save-logits`); mean KLD, same-top and ln(PPL ratio) compared.

llama.cpp runs with its defaults (f16 KV cache) and again with an f32 KV cache (`-ctk f32 -ctv f32`),
which is what LlamaKit computes in. Needs a llama.cpp build (llama-cpp-python 0.3.36's vendored
source, CMake, target llama-perplexity) and a release build of llamakit; run by hand:

    LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin python3 Interop/perplexity_llama_cpp.py
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
from make_reference import demo_text  # noqa: E402

LLAMAKIT = os.environ.get("LLAMAKIT", os.path.join(ROOT, ".build", "release", "llamakit"))
BIN = os.environ.get("LLAMA_CPP_BIN", "")
CTX = 128
THREADS = "2"
TYPES = ["f32", "f16", "q8_0", "q4_k_m"]


def run(args):
    # Files, not pipes: llama.cpp's logging thread can lose its last lines when writing to a pipe.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(args, stdout=out, stderr=err).returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stdout}\n{stderr}")
    return stdout + stderr


def llama_cpp(model, text, extra, f32_cache):
    args = [os.path.join(BIN, "llama-perplexity"), "-m", model, "-f", text, "-c", str(CTX), "-t", THREADS]
    if f32_cache:
        args += ["-ctk", "f32", "-ctv", "f32"]
    # llama.cpp's asynchronous logger sometimes loses the closing lines at exit (seen here about one
    # run in five, whatever the output is): run again until the summary is there.
    for _ in range(5):
        log = run(args + extra)
        if "Final estimate" in log or "Same top p:" in log or "--kl-divergence-base" in extra and "--kl-divergence" not in extra:
            return log
    raise SystemExit(f"llama-perplexity never printed its summary: {' '.join(args + extra)}")


def final_ppl(log):
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
    if not m:
        raise SystemExit("llama-perplexity printed no final estimate:\n" + log[-2000:])
    return float(m.group(1)), float(m.group(2))


def kld_figures(log):
    def grab(label):
        m = re.search(re.escape(label) + r"\s*:?\s*(-?[0-9.]+)", log)
        return float(m.group(1)) if m else None
    return {"kld": grab("Mean    KLD:"), "same_top": grab("Same top p:"), "ln_ratio": grab("Mean ln(PPL(Q)/PPL(base))     :"),
            "ppl": grab("Mean PPL(Q)                   :")}


def ours(model, text, extra):
    args = [LLAMAKIT, "perplexity", model, "--ctx", str(CTX), "--threads", THREADS, "--json"]
    out = subprocess.run(args + (["--text-file", text] if text else []) + extra, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    if not BIN:
        raise SystemExit("set LLAMA_CPP_BIN to a llama.cpp build's bin directory (with llama-perplexity)")
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        text = os.path.join(work, "grammar.txt")
        with open(text, "w") as f:
            f.write(demo_text(sentences=400, seed=4242))
        for name in ["demo", "k256"]:
            files = {}
            for t in TYPES:
                files[t] = os.path.join(work, f"{name}-{t}.gguf")
                run([LLAMAKIT, "convert", os.path.join(ROOT, "fixtures", name), "-o", files[t], "--type", t, "--no-sync"])
            print(f"\n{name}: ctx {CTX}, {THREADS} threads")
            print(f"  {'file':8} {'LlamaKit PPL':>14} {'llama.cpp f16 KV':>17} {'Δ':>8} {'llama.cpp f32 KV':>17} {'Δ':>8}")
            for t in TYPES:
                mine = ours(files[t], text, [])
                row = [f"  {t:8} {mine['ppl']:14.4f}"]
                for f32_cache in (False, True):
                    theirs, _ = final_ppl(llama_cpp(files[t], text, [], f32_cache))
                    delta = mine["ppl"] / theirs - 1
                    row.append(f"{theirs:17.4f} {100 * delta:+7.3f}%")
                    if abs(delta) > 0.005:
                        failures += 1
                print(" ".join(row))
            # KL divergence, both tools' base files.
            base_ours = os.path.join(work, f"{name}-ours.logits")
            base_theirs = os.path.join(work, f"{name}-theirs.logits")
            ours(files["f32"], text, ["--save-logits", base_ours, "--no-sync"])
            llama_cpp(files["f32"], text, ["--kl-divergence-base", base_theirs], True)
            print(f"  KLD against the f32 file: {'file':8} {'LlamaKit(our base)':>19} {'LlamaKit(their base)':>21} "
                  f"{'llama.cpp(our base)':>20} {'llama.cpp(their base)':>22}")
            for t in TYPES[1:]:
                a = ours(files[t], None, ["--kl-base", base_ours])["kld"]
                b = ours(files[t], None, ["--kl-base", base_theirs])["kld"]
                c = kld_figures(llama_cpp(files[t], text, ["--kl-divergence", "--kl-divergence-base", base_ours], True))
                d = kld_figures(llama_cpp(files[t], text, ["--kl-divergence", "--kl-divergence-base", base_theirs], True))
                print(f"  {'':26}{t:8} {a['kld']['mean']:19.6f} {b['kld']['mean']:21.6f} {c['kld']:20.6f} {d['kld']:22.6f}"
                      f"   same top {100 * a['same_top']['mean']:.2f} / {100 * b['same_top']['mean']:.2f} / "
                      f"{c['same_top']:.2f} / {d['same_top']:.2f} %")
    print("\nall PPL within 0.5 %" if failures == 0 else f"\n{failures} PPL comparisons beyond 0.5 %")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
