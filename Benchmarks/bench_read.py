#!/usr/bin/env python3
"""Reading benchmarks for `llamakit inspect` and the .pth reader, side by side in one run.

    python3 Benchmarks/bench_read.py            # Llama-3.2-1B-shaped bf16 checkpoint (~3 GB)
    python3 Benchmarks/bench_read.py --zip64    # a >4 GiB checkpoint: records past 4 GiB, bit-exact

Needs torch and numpy (pip) and a release build (`make release`). Generated checkpoints go to
Benchmarks/.work/ (not committed). Each timing is the median of --runs alternating runs on a warm
page cache:

  inspect:  `llamakit inspect DIR --json` (whole process) vs torch.load(path, mmap=True,
            weights_only=True) + listing name/dtype/shape (in-process, torch import excluded)
  read:     reading every tensor's bytes once through LlamaKit (mapped and libzip paths)
            vs `cat FILE > /dev/null`
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
READER = os.path.join(ROOT, "Benchmarks", ".build", "release", "read-tensors")
MASK = (1 << 64) - 1


def weighted_checksum(buf) -> int:
    """Σ (i+1)·w_i mod 2⁶⁴ over little-endian u64 words (tail zero-padded), as read-tensors computes."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    words = len(arr) // 8
    total = 0
    chunk = 1 << 24
    for start in range(0, words, chunk):
        count = min(chunk, words - start)
        w = arr[start * 8:(start + count) * 8].view("<u8")
        idx = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        total = (total + int((w * idx).sum(dtype=np.uint64))) & MASK
    tail = arr[words * 8:]
    if len(tail):
        last = int.from_bytes(tail.tobytes(), "little")
        total = (total + last * (words + 1)) & MASK
    return total


def tensor_buffer(t):
    import torch

    c = t.contiguous()
    return c.reshape(-1).view(torch.uint8).numpy() if c.numel() else b""


def save_meta(sd, directory, params=None):
    import torch

    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, "consolidated.pth")
    torch.save(sd, tmp)
    os.replace(tmp, os.path.join(directory, "consolidated.00.pth"))
    if params:
        with open(os.path.join(directory, "params.json"), "w") as f:
            json.dump(params, f)


def make_llama_1b(directory):
    """Llama 3.2 1B shapes (dim 2048, 16 layers, 32 heads, 8 kv heads, vocab 128256), bf16."""
    import torch

    path = os.path.join(directory, "consolidated.00.pth")
    if os.path.exists(path):
        return path
    print(f"generating {directory} …", file=sys.stderr)
    params = {"dim": 2048, "n_layers": 16, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
              "multiple_of": 256, "ffn_dim_multiplier": 1.5, "norm_eps": 1e-05, "rope_theta": 500000.0,
              "use_scaled_rope": True}
    g = torch.Generator().manual_seed(1)
    D, F, V, KV = 2048, 8192, 128256, 512

    def w(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    sd = {"tok_embeddings.weight": w(V, D)}
    for i in range(16):
        p = f"layers.{i}."
        sd[p + "attention.wq.weight"] = w(D, D)
        sd[p + "attention.wk.weight"] = w(KV, D)
        sd[p + "attention.wv.weight"] = w(KV, D)
        sd[p + "attention.wo.weight"] = w(D, D)
        sd[p + "feed_forward.w1.weight"] = w(F, D)
        sd[p + "feed_forward.w2.weight"] = w(D, F)
        sd[p + "feed_forward.w3.weight"] = w(F, D)
        sd[p + "attention_norm.weight"] = torch.ones(D, dtype=torch.bfloat16)
        sd[p + "ffn_norm.weight"] = torch.ones(D, dtype=torch.bfloat16)
    sd["norm.weight"] = torch.ones(D, dtype=torch.bfloat16)
    sd["output.weight"] = w(V, D)
    save_meta(sd, directory, params)
    return path


def make_zip64(directory):
    """A checkpoint of ~4.6 GB: one 4.3 GB record (zip64 sizes), then records whose local headers
    start past 4 GiB (zip64 offsets, torch's non-standard local zip64 extra)."""
    import torch

    path = os.path.join(directory, "consolidated.00.pth")
    if os.path.exists(path):
        return path
    print(f"generating {directory} …", file=sys.stderr)
    g = torch.Generator().manual_seed(64)
    big = torch.randint(-32768, 32767, (2_150_000_000,), dtype=torch.int16, generator=g)  # 4.3e9 bytes
    sd = {
        "before": torch.randn(1000, generator=g).to(torch.bfloat16),
        "big": big,
        "after.bf16": torch.randn(4096, 1024, generator=g).to(torch.bfloat16),
        "after.f32": torch.randn(12345, generator=g),
        "after.transposed": torch.randn(300, 200, generator=g).t(),
        "after.scalar": torch.tensor(7.25),
    }
    save_meta(sd, directory)
    return path


def run(cmd, stdout=subprocess.DEVNULL):
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start, result


TORCH_WHOLE = "import sys, torch; sd = torch.load(sys.argv[1], mmap=True, weights_only=True); " \
    "[(k, str(v.dtype), tuple(v.shape), v.numel() * v.element_size()) for k, v in sd.items()]"

TORCH_LIST = r"""
import sys, time, torch
path = sys.argv[1]
start = time.perf_counter()
sd = torch.load(path, mmap=True, weights_only=True)
listing = [(k, str(v.dtype), tuple(v.shape), v.numel() * v.element_size()) for k, v in sd.items()]
print(time.perf_counter() - start)
"""


def bench_inspect_and_read(directory, file_path, runs):
    subprocess.run(["cat", file_path], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    times = {"cat": [], "mapped": [], "libzip": [], "inspect": [], "torch": [], "list": [], "torch_whole": []}
    for _ in range(runs):
        times["cat"].append(run(["sh", "-c", f"cat '{file_path}' > /dev/null"])[0])
        for via in ("mapped", "libzip"):
            out = subprocess.run([READER, directory, "--via", via], capture_output=True, text=True, check=True)
            times[via].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        times["inspect"].append(run([LLAMAKIT, "inspect", directory, "--json"])[0])
        out = subprocess.run([sys.executable, "-c", TORCH_LIST, file_path], capture_output=True, text=True, check=True)
        times["torch"].append(float(out.stdout.strip()))
        times["torch_whole"].append(run([sys.executable, "-c", TORCH_WHOLE, file_path])[0])
        out = subprocess.run([READER, directory, "--list"], capture_output=True, text=True, check=True)
        times["list"].append(json.loads(out.stdout)["seconds"])
    med = {k: statistics.median(v) for k, v in times.items()}
    size = os.path.getsize(file_path)
    print(f"file: {file_path} ({size / 1e9:.2f} GB), median of {runs} alternating runs, warm page cache")
    print("  whole process, what a user waits for:")
    print(f"    llamakit inspect DIR --json                   {med['inspect'] * 1e3:9.1f} ms")
    print(f"    python3 -c 'import torch; torch.load(…, mmap=True, weights_only=True); list'"
          f" {med['torch_whole'] * 1e3:9.1f} ms   → llamakit {med['torch_whole'] / med['inspect']:.0f}× faster (target ≥ 20×)")
    print("  in-process, library work only (process start and `import torch` excluded):")
    print(f"    CheckpointDirectory.open + list               {med['list'] * 1e3:9.1f} ms")
    print(f"    torch.load(mmap=True, weights_only=True)+list {med['torch'] * 1e3:9.1f} ms   → llamakit {med['torch'] / med['list']:.1f}× faster (target ≥ 20×)")
    print(f"  cat FILE > /dev/null                          {med['cat'] * 1e3:9.1f} ms   ({size / med['cat'] / 1e9:.2f} GB/s)")
    for via in ("mapped", "libzip"):
        print(f"  read every tensor once, {via:6} path               {med[via] * 1e3:9.1f} ms   ({size / med[via] / 1e9:.2f} GB/s) → {med['cat'] / med[via]:.2f}× cat speed (target ≥ 0.8×)")
    return med


def check_bit_exact(directory, file_path):
    """Every tensor read by LlamaKit (both paths) equals torch's bytes."""
    import torch

    sd = torch.load(file_path, mmap=True, weights_only=True)
    expected = {k: weighted_checksum(tensor_buffer(v)) for k, v in sd.items()}
    for via in ("mapped", "libzip"):
        out = subprocess.run([READER, directory, "--via", via, "--checksums"], capture_output=True, text=True, check=True)
        got = dict(line.split("\t") for line in out.stdout.strip().splitlines()[:-1])
        got = {k: int(v) for k, v in got.items()}
        bad = [k for k in expected if got.get(k) != expected[k]]
        status = "bit-exact" if not bad and len(got) == len(expected) else f"MISMATCH {bad[:5]}"
        print(f"  {via:6} path: {len(got)} tensors vs torch: {status}")
        if bad:
            sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip64", action="store_true", help="the >4 GiB bit-exactness check instead")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for tool in (LLAMAKIT, READER):
        if not os.path.exists(tool):
            sys.exit(f"{tool} is missing: run `make release` and `swift build -c release --package-path Benchmarks`")
    if args.zip64:
        directory = os.path.join(WORK, "zip64")
        path = make_zip64(directory)
        print(f"file: {path} ({os.path.getsize(path) / 2**30:.2f} GiB)")
        out = subprocess.run([LLAMAKIT, "inspect", path, "--json"], capture_output=True, text=True, check=True)
        for t in json.loads(out.stdout)["tensors"]:
            offset = int(t["location"].split("@")[1])
            print(f"  {t['name']:18} {t['dtype']:5} {str(t['shape']):16} {t['bytes']:>13,} bytes at {offset:>13,}"
                  f"{'  (past 4 GiB)' if offset >= 2**32 else ''}")
        check_bit_exact(directory, path)
        return
    directory = os.path.join(WORK, "llama-3.2-1b-bf16")
    path = make_llama_1b(directory)
    check_bit_exact(directory, path)
    bench_inspect_and_read(directory, path, args.runs)


if __name__ == "__main__":
    main()
