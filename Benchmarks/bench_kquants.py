#!/usr/bin/env python3
"""K-quant speed and memory against llama.cpp, side by side in one run, on the Llama-3.2-1B-shaped
bf16 checkpoint (bench_read.make_llama_1b, generated, not committed):

  quantize  F16 GGUF → Q4_K_M, Q5_K_M, Q6_K: `llamakit quantize --threads N` vs llama.cpp's
            `llama_model_quantize` (llama-cpp-python's binding, nthread N), alternating runs;
            llama.cpp's time inside its process, LlamaKit's the whole process (fsync skipped on
            both: llama.cpp does not fsync). Every tensor of the two outputs compared byte for byte.
  convert   Meta .pth → Q4_K_M in one step (`llamakit convert --type q4_k_m`) vs the two-program
            route: `llamakit convert --type bf16` then `llama_model_quantize` BF16 → Q4_K_M;
            peak RSS of the one-step convert against 3 × the largest tensor + 200 MB.

    LLAMA_CPP_LIB_PATH=/path/to/llama.cpp/build/bin python3 Benchmarks/bench_kquants.py [--runs 3] [--threads 2]

(llama-cpp-python's binding on the libllama.so of a llama.cpp build: see Benchmarks/README.md.)
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
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
FTYPE = {"q4_k_m": 15, "q5_k_m": 17, "q6_k": 18}

LLAMA_CPP = r"""
import ctypes, sys, time, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.nthread = int(sys.argv[3])
params.ftype = int(sys.argv[4])
start = time.perf_counter()
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
assert rc == 0, rc
print(time.perf_counter() - start)
"""


def llama_cpp_quantize(source, target, threads, ftype):
    out = subprocess.run([sys.executable, "-c", LLAMA_CPP, source, target, str(threads), str(ftype)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed(args):
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v"] + args, capture_output=True, text=True, check=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) * 1024
    return time.perf_counter() - start, rss


def same_tensors(a_path, b_path):
    from gguf import GGUFReader

    a, b = GGUFReader(a_path), GGUFReader(b_path)
    by_name = {x.name: x for x in b.tensors}
    same = sum(1 for x in a.tensors if x.name in by_name and x.tensor_type == by_name[x.name].tensor_type
               and x.data.tobytes() == by_name[x.name].data.tobytes())
    return same, len(a.tensors), len(b.tensors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--presets", default="q4_k_m,q5_k_m,q6_k")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    ckpt = os.path.join(WORK, "llama-3.2-1b-bf16")
    sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
    from bench_read import make_llama_1b

    make_llama_1b(ckpt)
    # Meta's real Llama 3 tokenizer (`make test` caches it), so the files are what users convert.
    tokenizer = os.path.join(ROOT, "fixtures", ".cache", "llama3", "tokenizer.model")
    if not os.path.exists(os.path.join(ckpt, "tokenizer.model")):
        subprocess.run(["cp", tokenizer, os.path.join(ckpt, "tokenizer.model")], check=True)
    f16, bf16 = os.path.join(WORK, "llama-1b-f16.gguf"), os.path.join(WORK, "llama-1b-bf16.gguf")
    for path, kind in ((f16, "f16"), (bf16, "bf16")):
        if not os.path.exists(path):
            subprocess.run([LLAMAKIT, "convert", ckpt, "-o", path, "--type", kind, "--no-sync"], check=True, capture_output=True)
    ours_path, theirs_path = os.path.join(WORK, "k-llamakit.gguf"), os.path.join(WORK, "k-llama-cpp.gguf")
    threads = args.threads

    print(f"quantize F16 → preset, {os.path.getsize(f16) / 1e9:.2f} GB, {threads} thread(s) each, median of {args.runs}:")
    print(f"{'preset':8} {'LlamaKit':>10} {'llama.cpp':>10} {'ratio':>7} {'peak RSS':>9}  tensors identical")
    for preset in args.presets.split(","):
        ours, theirs, rss = [], [], []
        for _ in range(args.runs):
            seconds, peak = timed([LLAMAKIT, "quantize", f16, ours_path, "--type", preset, "--threads", str(threads), "--no-sync"])
            ours.append(seconds)
            rss.append(peak)
            theirs.append(llama_cpp_quantize(f16, theirs_path, threads, FTYPE[preset]))
        o, t = statistics.median(ours), statistics.median(theirs)
        same, count, other = same_tensors(ours_path, theirs_path)
        print(f"{preset:8} {o:9.2f}s {t:9.2f}s {t / o:6.2f}x {max(rss) / 1e6:7.0f}MB  {same} of {count} ({other} there)"
              f"  runs {[round(x, 2) for x in ours]} vs {[round(x, 2) for x in theirs]}")

    print(f"\nconvert Meta .pth → Q4_K_M, {threads} thread(s), median of {args.runs}:")
    one, two, rss = [], [], []
    for _ in range(args.runs):
        seconds, peak = timed([LLAMAKIT, "convert", ckpt, "-o", ours_path, "--type", "q4_k_m", "--threads", str(threads), "--no-sync"])
        one.append(seconds)
        rss.append(peak)
        start = time.perf_counter()
        subprocess.run([LLAMAKIT, "convert", ckpt, "-o", bf16 + ".tmp.gguf", "--type", "bf16", "--no-sync"], check=True,
                       capture_output=True)
        first = time.perf_counter() - start
        two.append(first + llama_cpp_quantize(bf16 + ".tmp.gguf", theirs_path, threads, FTYPE["q4_k_m"]))
    largest = 128256 * 2048 * 2
    o, t = statistics.median(one), statistics.median(two)
    same, count, other = same_tensors(ours_path, theirs_path)
    print(f"  llamakit convert --type q4_k_m                {o:7.2f} s  peak RSS {max(rss) / 1e6:.0f} MB "
          f"(target ≤ 3 × {largest / 1e6:.0f} MB + 200 MB = {(3 * largest + 200e6) / 1e6:.0f} MB)")
    print(f"  convert --type bf16 + llama_model_quantize    {t:7.2f} s")
    print(f"  ratio                                         {t / o:7.2f}x (> 1: one step faster)")
    print(f"  {same} of {count} tensors identical to llama.cpp's Q4_K_M from the BF16 file ({other} there)")
    for path in (ours_path, theirs_path, bf16 + ".tmp.gguf"):
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
