#!/usr/bin/env python3
"""`llamakit convert` speed and memory, side by side in one run, on the Llama-3.2-1B-shaped bf16
checkpoint of bench_read.py (plus Meta's real Llama 3 tokenizer.model):

  cp of the .pth  |  convert --type bf16  |  convert --type q8_0  |  the Python path
  (torch.load(mmap=True) + gguf.quants.quantize + gguf.GGUFWriter, Q8_0)

Peak RSS from /usr/bin/time -v. Warm page cache; outputs in Benchmarks/.work/ (deleted after).
The cp and convert rows run --runs times in alternating order (the disk is noisy) and report medians;
the Python path runs once (17–29 s, 6.4 GB). `sync` (untimed) before every run.
    python3 Benchmarks/bench_convert.py [--runs 3] [--skip-python]
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
TOKENIZER = os.path.join(ROOT, "fixtures", ".cache", "llama3", "tokenizer.model")

PYTHON_PATH = r"""
import sys, torch, numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as Q, quants
src, out = sys.argv[1], sys.argv[2]
sd = torch.load(src, mmap=True, weights_only=True)
w = GGUFWriter(out, arch="llama")
for name, t in sd.items():
    x = t.to(torch.float32).numpy()
    if t.ndim == 1:
        w.add_tensor(name, x)
    else:
        w.add_tensor(name, quants.quantize(x, Q.Q8_0), raw_dtype=Q.Q8_0)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"""


def timed(cmd):
    # Each run starts with no dirty pages left by the one before (untimed), so no run pays for
    # another's writeback.
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
    parser.add_argument("--runs", type=int, default=3, help="rounds of cp and convert (medians reported)")
    parser.add_argument("--skip-python", action="store_true", help="leave out the torch + gguf-py path")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(CKPT, "consolidated.00.pth")):
        sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
        from bench_read import make_llama_1b  # the checkpoint only, without bench_read's reader build

        make_llama_1b(CKPT)
    shutil.copyfile(TOKENIZER, os.path.join(CKPT, "tokenizer.model"))
    pth = os.path.join(CKPT, "consolidated.00.pth")
    size = os.path.getsize(pth)
    subprocess.run(["cat", pth], stdout=subprocess.DEVNULL, check=True)
    largest = 128256 * 2048 * 4  # the embedding widened to f32, the largest buffer convert holds
    rows = [
        ("cp", ["cp", pth, os.path.join(WORK, "copy.pth")], os.path.join(WORK, "copy.pth")),
        # convert fsyncs its output before renaming it into place; this is the like-for-like copy.
        ("cp + fsync", ["sh", "-c", f"cp '{pth}' '{WORK}/copy2.pth' && sync '{WORK}/copy2.pth'"], os.path.join(WORK, "copy2.pth")),
        ("convert bf16", [LLAMAKIT, "convert", CKPT, "-o", os.path.join(WORK, "out-bf16.gguf"), "--type", "bf16"], os.path.join(WORK, "out-bf16.gguf")),
        ("convert q8_0", [LLAMAKIT, "convert", CKPT, "-o", os.path.join(WORK, "out-q8_0.gguf"), "--type", "q8_0"], os.path.join(WORK, "out-q8_0.gguf")),
        # Like plain cp: no fsync before the rename.
        ("bf16 --no-sync", [LLAMAKIT, "convert", CKPT, "-o", os.path.join(WORK, "out-bf16.gguf"), "--type", "bf16", "--no-sync"], os.path.join(WORK, "out-bf16.gguf")),
        ("q8_0 --no-sync", [LLAMAKIT, "convert", CKPT, "-o", os.path.join(WORK, "out-q8_0.gguf"), "--type", "q8_0", "--no-sync"], os.path.join(WORK, "out-q8_0.gguf")),
    ]
    samples = {label: [] for label, _, _ in rows}
    for round_ in range(args.runs):
        for label, cmd, output in (rows if round_ % 2 == 0 else rows[::-1]):
            samples[label].append(timed(cmd))
            os.remove(output)
    results = {label: (statistics.median(t for t, _ in runs), max(r for _, r in runs)) for label, runs in samples.items()}
    if not args.skip_python:
        output = os.path.join(WORK, "py-q8_0.gguf")
        results["python q8_0"] = timed([sys.executable, "-c", PYTHON_PATH, pth, output])
        os.remove(output)
    cp = results["cp"][0]
    cp_sync = results["cp + fsync"][0]
    print(f"checkpoint: {pth} ({size / 1e9:.2f} GB), warm page cache, medians of {args.runs} alternating runs (python: one)")
    for label, runs in samples.items():
        print(f"  {label:14} runs: " + ", ".join(f"{t:.2f} s" for t, _ in runs))
    for label, (seconds, rss) in results.items():
        ratio = f"{seconds / cp:5.2f}× cp, {seconds / cp_sync:5.2f}× cp+fsync" if not label.startswith("cp") else " " * 26
        print(f"  {label:14} {seconds:7.2f} s  {ratio}  peak RSS {rss / 1e6:7.0f} MB")
    print("  like for like: convert (fsync) vs cp + fsync; convert --no-sync vs cp")
    print(f"  targets: bf16 ≤ 1.3× cp, q8_0 ≤ 2× cp and ≥ 10× faster than python; peak RSS ≤ 3 × largest tensor + 200 MB"
          f" = {(3 * 128256 * 2048 * 2 + 200e6) / 1e6:.0f} MB (largest tensor 525 MB as bf16)")
    if "python q8_0" in results:
        # GGUFWriter does not fsync: the like-for-like row is --no-sync; both are printed.
        python = results["python q8_0"][0]
        print(f"  python / llamakit q8_0: {python / results['q8_0 --no-sync'][0]:.1f}× (--no-sync, as the Python path writes),"
              f" {python / results['convert q8_0'][0]:.1f}× (with fsync)")


if __name__ == "__main__":
    main()
