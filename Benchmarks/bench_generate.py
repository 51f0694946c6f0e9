#!/usr/bin/env python3
"""Forward-pass speed: `llamakit generate` vs llama.cpp (llama-cpp-python's binding) on the same
GGUF files, side by side in one run.

The Llama-3.2-1B-shaped bf16 checkpoint of bench_read.py is converted by llamakit to Q8_0, F16 and
Q4_K_M (`--kinds`; llama.cpp loads those files as they are). For each file and for 1 and 2 threads: prefill
tokens/s over a 65-token prompt and decode tokens/s over 16 generated tokens, median of --runs.
Beside them, the bandwidth bound: bytes read per decoded token (every matrix, the tied output
head, one embedding row) ÷ the machine's measured memory read bandwidth (numpy sum over 2 GiB).

    pip install llama-cpp-python numpy      # llama-cpp-python compiles llama.cpp (~10 min)
    python3 Benchmarks/bench_generate.py [--runs 3] [--baseline OTHER_LLAMAKIT_BINARY]

--baseline runs a second llamakit build (e.g. main's) in the same alternation and prints its row
under each of ours, so a change is measured before/after in one run window.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
CKPT = os.path.join(WORK, "llama-3.2-1b-bf16")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
TOKENIZER = os.path.join(ROOT, "fixtures", ".cache", "llama3", "tokenizer.model")
PROMPT = [128000] + list(range(1000, 1064))
DECODE = 16

LLAMA_CPP = r"""
import json, sys, time, llama_cpp
path, threads, prompt, n = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=256, n_batch=128,
                      verbose=False)
t0 = time.perf_counter(); llm.eval(prompt); t1 = time.perf_counter()
token = int(llm.scores[llm.n_tokens - 1].argmax())
t2 = time.perf_counter()
for _ in range(n - 1):
    llm.eval([token])
    token = int(llm.scores[llm.n_tokens - 1].argmax())
t3 = time.perf_counter()
print(json.dumps({"prefill": len(prompt) / (t1 - t0), "decode": (n - 1) / (t3 - t2)}))
"""


def llamakit(path, threads, binary=LLAMAKIT):
    out = subprocess.run([binary, "generate", path, "--prompt-tokens", ",".join(map(str, PROMPT)), "-n", str(DECODE),
                          "--threads", str(threads), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return result["prefill_tokens_per_s"], result["decode_tokens_per_s"]


def llama_cpp(path, threads):
    out = subprocess.run([sys.executable, "-c", LLAMA_CPP, path, str(threads), json.dumps(PROMPT), str(DECODE)],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["prefill"], result["decode"]


def bandwidth():
    import numpy as np

    a = np.ones(1 << 28, dtype=np.float64)  # 2 GiB
    a.sum()
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        a.sum()
        best = max(best, a.nbytes / (time.perf_counter() - t0))
    return best


def bytes_per_token(path):
    """Every tensor once, except the embedding: one row (the tied output head reads it whole)."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    total = 0
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    for t in reader.tensors:
        if t.name == "token_embd.weight":
            total += int(t.n_bytes) if tied else int(t.n_bytes) // int(t.shape[1])
        else:
            total += int(t.n_bytes)
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="q8_0,f16,q4_k_m", help="presets to convert the checkpoint to and run")
    parser.add_argument("--baseline", help="another llamakit binary to run alongside (printed as 'baseline')")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(CKPT, "consolidated.00.pth")):
        subprocess.run([sys.executable, os.path.join(ROOT, "Benchmarks", "bench_read.py"), "--runs", "1"], check=True)
    if not os.path.exists(os.path.join(CKPT, "tokenizer.model")):
        subprocess.run(["cp", TOKENIZER, os.path.join(CKPT, "tokenizer.model")], check=True)
    files = {}
    for kind in args.kinds.split(","):
        path = os.path.join(WORK, f"llama-1b-{kind}.gguf")
        if not os.path.exists(path):
            subprocess.run([LLAMAKIT, "convert", CKPT, "-o", path, "--type", kind], check=True)
        files[kind] = path
    bw = bandwidth()
    print(f"memory read bandwidth (numpy sum, 2 GiB): {bw / 1e9:.1f} GB/s; prompt {len(PROMPT)} tokens, "
          f"decode {DECODE} tokens, median of {args.runs} runs\n")
    print(f"{'file':8} {'thr':>3} | {'llamakit prefill':>16} {'llama.cpp':>9} {'ratio':>6} | "
          f"{'llamakit decode':>15} {'llama.cpp':>9} {'ratio':>6} | {'bound':>11}")
    for kind, path in files.items():
        bound = bw / bytes_per_token(path)
        for threads in [1, 2]:
            ours, theirs, base = [], [], []
            for _ in range(args.runs):  # alternate, so all see the same machine state
                ours.append(llamakit(path, threads))
                theirs.append(llama_cpp(path, threads))
                if args.baseline:
                    base.append(llamakit(path, threads, args.baseline))
            tp, td = statistics.median(r[0] for r in theirs), statistics.median(r[1] for r in theirs)
            for label, runs in [(kind, ours), ("baseline", base)]:
                if not runs:
                    continue
                op, od = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
                print(f"{label:8} {threads:>3} | {op:>11.1f} t/s {tp:>5.1f} t/s {op / tp:>5.2f}x | "
                      f"{od:>10.2f} t/s {td:>5.2f} t/s {od / td:>5.2f}x | {bound:>7.2f} t/s")


if __name__ == "__main__":
    main()
