#!/usr/bin/env python3
"""`llamakit convert --to hf` and HF → GGUF, speed and memory side by side in one run, on the
Llama-3.2-1B-shaped bf16 checkpoint of bench_read.py (plus Meta's real Llama 3 tokenizer.model):

  cp of the .pth
  llamakit convert --to hf (bf16)              target ≤ 1.3 × cp, peak RSS ≤ 3 × largest tensor + 200 MB
                                               (like for like: fsync vs cp + sync, --no-sync vs cp)
  transformers' convert_llama_weights_to_hf    (transformers 4.47.1, the last release that ships it;
                                                its peak RSS stated beside ours; run once)
  llamakit convert META → GGUF Q8_0  vs  llamakit convert HF → GGUF Q8_0   target within 1.2 × (both --no-sync)

Peak RSS from /usr/bin/time -v. Warm page cache; `sync` (untimed) before every run; each run writes
to a path that does not exist yet; outputs in Benchmarks/.work/ (deleted after). cp and llamakit rows alternate for --runs rounds; medians.
    python3 Benchmarks/bench_hf.py [--runs 3] [--transformers-python /path/to/python-with-transformers-4.47.1]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
CKPT = os.path.join(WORK, "llama-3.2-1b-bf16")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
LARGEST = 128256 * 2048 * 2  # tok_embeddings.weight in bf16

CONVERTER = r"""
import sys, transformers.models.llama.convert_llama_weights_to_hf as c
c.write_model(model_path=sys.argv[2], input_base_path=sys.argv[1], llama_version="3.2", vocab_size=128256, num_shards=1)
"""


def timed(cmd):
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) * 1024
    return elapsed, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transformers-python", help="a python with transformers 4.47.1 (leave out to skip that row)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(CKPT, "consolidated.00.pth")):
        sys.exit("run Benchmarks/bench_read.py first: it writes the 1B-shaped checkpoint")
    pth = os.path.join(CKPT, "consolidated.00.pth")
    copy, hf, meta_gguf, hf_gguf = (os.path.join(WORK, n) for n in ["cp.pth", "hf-out", "meta-q8_0.gguf", "hf-q8_0.gguf"])
    rows = {"cp": [], "cp + sync": [], "hf": [], "hf --no-sync": [], "meta→gguf": [], "hf→gguf": []}
    rss = {}
    try:
        for _ in range(args.runs):
            for key, cmd in [
                ("cp", ["cp", pth, copy]),
                ("cp + sync", ["sh", "-c", f"cp '{pth}' '{copy}' && sync '{copy}'"]),
                ("hf", [LLAMAKIT, "convert", CKPT, "-o", hf, "--to", "hf", "--threads", "2"]),
                ("hf --no-sync", [LLAMAKIT, "convert", CKPT, "-o", hf, "--to", "hf", "--threads", "2", "--no-sync"]),
                ("meta→gguf", [LLAMAKIT, "convert", CKPT, "-o", meta_gguf, "--type", "q8_0", "--threads", "2", "--name", "x", "--no-sync"]),
                ("hf→gguf", [LLAMAKIT, "convert", hf, "-o", hf_gguf, "--type", "q8_0", "--threads", "2", "--name", "x", "--no-sync"]),
            ]:
                seconds, peak = timed(cmd)
                rows[key].append(seconds)
                rss[key] = max(rss.get(key, 0), peak)
                # Every run writes into an empty place, as the first does (untimed).
                if key in ("cp", "cp + sync"):
                    os.remove(copy)
                elif key.startswith("hf") and key != "hf→gguf":
                    shutil.rmtree(hf) if key != "hf --no-sync" else None
        identical = open(meta_gguf, "rb").read() == open(hf_gguf, "rb").read()
        if args.transformers_python:
            out = os.path.join(WORK, "hf-transformers")
            seconds, peak = timed([args.transformers_python, "-c", CONVERTER, CKPT, out])
            rows["transformers"], rss["transformers"] = [seconds], peak
            shutil.rmtree(out, ignore_errors=True)
    finally:
        for path in [copy, meta_gguf, hf_gguf]:
            if os.path.exists(path):
                os.remove(path)
        shutil.rmtree(hf, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"{'run':28} {'median s':>9} {'runs':>24} {'peak RSS':>10}")
    for key, values in rows.items():
        if values:
            print(f"{key:28} {median[key]:9.2f} {', '.join(f'{v:.2f}' for v in values):>24} {rss[key] / 2**20:8.0f} MB")
    print(f"\nconvert --to hf / (cp + sync): {median['hf'] / median['cp + sync']:.2f}×; "
          f"--no-sync / cp: {median['hf --no-sync'] / median['cp']:.2f}× (target ≤ 1.3×); "
          f"peak RSS {rss['hf'] / 2**20:.0f} MB (target ≤ {(3 * LARGEST) / 2**20 + 200:.0f} MB)")
    print(f"HF → GGUF Q8_0 / Meta → GGUF Q8_0: {median['hf→gguf'] / median['meta→gguf']:.2f}× (target ≤ 1.2×); "
          f"files byte-identical: {identical}")


if __name__ == "__main__":
    main()
