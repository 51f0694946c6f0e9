#!/usr/bin/env python3
"""`llamakit quantize` F16 → Q8_0 vs llama.cpp's `llama_model_quantize` (through llama-cpp-python's
ctypes binding) on the same F16 GGUF, the same thread count each (--threads, default 1), alternating
runs, side by side; llama.cpp's time is taken inside its process (Python start-up and import
excluded), LlamaKit's is the whole process. Then checks
that every tensor of the two outputs is byte-identical (llama.cpp orders tensors differently, so the
files are compared tensor by tensor with gguf-py).

    pip install llama-cpp-python gguf
    python3 Benchmarks/bench_quantize.py [--runs 3] [--threads 1]
"""
import argparse
import ctypes
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")

LLAMA_CPP = r"""
import ctypes, sys, time, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.nthread = int(sys.argv[3])
params.ftype = 7  # LLAMA_FTYPE_MOSTLY_Q8_0
start = time.perf_counter()
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
assert rc == 0, rc
print(time.perf_counter() - start)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    source = os.path.join(WORK, "llama-1b-f16.gguf")
    if not os.path.exists(source):
        ckpt = os.path.join(WORK, "llama-3.2-1b-bf16")
        if not os.path.exists(os.path.join(ckpt, "consolidated.00.pth")):
            sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
            from bench_read import make_llama_1b

            make_llama_1b(ckpt)
        subprocess.run([LLAMAKIT, "convert", ckpt, "-o", source, "--type", "f16"], check=True)
    ours_path, theirs_path = os.path.join(WORK, "q-llamakit.gguf"), os.path.join(WORK, "q-llama-cpp.gguf")
    ours, theirs, rss = [], [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        out = subprocess.run(["/usr/bin/time", "-v", LLAMAKIT, "quantize", source, ours_path, "--type", "q8_0",
                              "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        ours.append(time.perf_counter() - start)
        rss.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) * 1024)
        out = subprocess.run([sys.executable, "-c", LLAMA_CPP, source, theirs_path, str(args.threads)], capture_output=True, text=True, check=True)
        theirs.append(float(out.stdout.strip().splitlines()[-1]))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"F16 → Q8_0 of {os.path.getsize(source) / 1e9:.2f} GB, {args.threads} thread(s) each, median of {args.runs}:")
    print(f"  llamakit quantize        {o:6.2f} s  (peak RSS {max(rss) / 1e6:.0f} MB)")
    print(f"  llama_model_quantize     {t:6.2f} s")
    print(f"  ratio                    {t / o:6.2f}x  (> 1: LlamaKit faster; target ≥ 1)")
    from gguf import GGUFReader

    a, b = GGUFReader(ours_path), GGUFReader(theirs_path)
    by_name = {x.name: x for x in b.tensors}
    same = sum(1 for x in a.tensors if x.name in by_name and x.tensor_type == by_name[x.name].tensor_type
               and x.data.tobytes() == by_name[x.name].data.tobytes())
    print(f"  {same} of {len(a.tensors)} tensors byte-identical to llama.cpp's output ({len(b.tensors)} tensors there)")
    os.remove(ours_path)
    os.remove(theirs_path)


if __name__ == "__main__":
    main()
