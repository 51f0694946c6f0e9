#!/usr/bin/env python3
"""`llamakit diff` speed and memory against reading both files, side by side in one run, on the
Llama-3.2-1B-shaped bf16 checkpoint of bench_read.py and two GGUFs converted from it:

  checkpoint (3.00 GB bf16) vs its F32 GGUF (5.99 GB): every tensor equal, bf16 widened
  checkpoint vs its Q8_0 GGUF (1.59 GB): every matrix dequantized and different

For each pair, `cat CHECKPOINT GGUF > /dev/null` (the time to read both files) and `llamakit diff`
run --runs times in alternating order, warm page cache; medians, and diff's peak RSS from
/usr/bin/time -v against the budget of 2 × the largest tensor in f32 + 200 MB. The GGUFs are made
once by `llamakit convert` and kept in Benchmarks/.work/.
    python3 Benchmarks/bench_diff.py [--runs 5] [--threads N]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
CKPT = os.path.join(WORK, "llama-3.2-1b-bf16")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
LARGEST_F32 = 128256 * 2048 * 4  # the embedding (and the output matrix) widened to f32


def timed(cmd, expect):
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != expect:
        sys.exit(f"{' '.join(cmd)} exited {out.returncode}, expected {expect}: {out.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) * 1024
    return elapsed, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="rounds of cat and diff (medians reported)")
    parser.add_argument("--threads", type=int, default=None, help="llamakit diff --threads (default: its own)")
    args = parser.parse_args()
    if not os.path.exists(LLAMAKIT):
        sys.exit("no .build/release/llamakit: run `make release`")
    if not os.path.exists(os.path.join(CKPT, "consolidated.00.pth")):
        sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
        from bench_read import make_llama_1b  # the checkpoint only, without bench_read's reader build

        make_llama_1b(CKPT)
    pth = os.path.join(CKPT, "consolidated.00.pth")
    ggufs = {}
    for kind in ("f32", "q8_0"):
        ggufs[kind] = os.path.join(WORK, f"llama-3.2-1b-{kind}.gguf")
        if not os.path.exists(ggufs[kind]):
            print(f"converting to {kind} …", file=sys.stderr)
            subprocess.run([LLAMAKIT, "convert", CKPT, "-o", ggufs[kind], "--type", kind, "--no-tokenizer", "--no-sync"],
                           check=True, stdout=subprocess.DEVNULL)
    threads = ["--threads", str(args.threads)] if args.threads else []
    pairs = [("f32", 0), ("q8_0", 1)]  # diff exits 0 when all equal, 1 when the Q8_0 file differs
    subprocess.run(["cat", pth, ggufs["f32"], ggufs["q8_0"]], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    samples = {}
    for kind, status in pairs:
        rows = [
            ("cat", ["sh", "-c", f"cat '{pth}' '{ggufs[kind]}' > /dev/null"], 0),
            ("diff", [LLAMAKIT, "diff", CKPT, ggufs[kind]] + threads, status),
        ]
        for round_ in range(args.runs):
            for label, cmd, expect in (rows if round_ % 2 == 0 else rows[::-1]):
                samples.setdefault((kind, label), []).append(timed(cmd, expect))
    budget = 2 * LARGEST_F32 + 200e6
    print(f"checkpoint: {pth} ({os.path.getsize(pth) / 1e9:.2f} GB bf16), warm page cache, "
          f"medians of {args.runs} alternating runs, diff threads: {args.threads or 'default'}")
    for kind, _ in pairs:
        size = os.path.getsize(pth) + os.path.getsize(ggufs[kind])
        cat = statistics.median(t for t, _ in samples[(kind, "cat")])
        diff = statistics.median(t for t, _ in samples[(kind, "diff")])
        rss = max(r for _, r in samples[(kind, "diff")])
        print(f"  vs {kind} GGUF ({os.path.getsize(ggufs[kind]) / 1e9:.2f} GB), {size / 1e9:.2f} GB read:")
        for label in ("cat", "diff"):
            print(f"    {label:4} runs: " + ", ".join(f"{t:.2f} s" for t, _ in samples[(kind, label)]))
        print(f"    cat {cat:6.2f} s ({size / cat / 1e9:5.2f} GB/s)   diff {diff:6.2f} s ({size / diff / 1e9:5.2f} GB/s)"
              f"   → diff at {cat / diff:.2f}× the speed of reading both (target ≥ 0.5×)")
        print(f"    diff peak RSS {rss / 1e6:6.0f} MB (budget 2 × largest tensor in f32 + 200 MB = {budget / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
