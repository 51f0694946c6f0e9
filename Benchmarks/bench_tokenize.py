#!/usr/bin/env python3
"""Llama 3 tokenizer speed, LlamaKit vs tiktoken, one thread, side by side in one run.

    python3 Benchmarks/bench_tokenize.py

Builds a ~10 MB mixed-language text in Benchmarks/.work/ (Python standard library sources and
docstrings, PSF licence, interleaved with multilingual sentences; not committed), then times
tiktoken `encode_ordinary` with Meta's ranks and pattern and LlamaKit's `Llama3Tokenizer.encode`
(Meta's encode: chunked, specials as text). Also times loading the 128k-rank file. Median of 3.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import tiktoken
from tiktoken.load import load_tiktoken_bpe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "fixtures", ".cache", "llama3", "tokenizer.model")
TOOL = os.path.join(ROOT, "Benchmarks", ".build", "release", "encode-tokens")
TEXT = os.path.join(ROOT, "Benchmarks", ".work", "mixed-10mb.txt")
PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def make_text():
    if os.path.exists(TEXT):
        return
    import glob
    import random
    lines = ["我们今天去公园散步吧。天气很好。", "東京都の天気は晴れです。カタカナとひらがな。", "مرحبا بالعالم، كيف حالك؟",
             "שלום עולם, מה שלומך?", "Привет, мир! Как дела?", "नमस्ते दुनिया, आप कैसे हैं?", "Xin chào thế giới! 👩🏽‍💻🎉",
             "Γειά σου Κόσμε.", "안녕하세요 세계, 좋은 아침입니다."]
    rng = random.Random(1)
    parts, size = [], 0
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8", errors="ignore") as f:
            source = f.read()
        parts.append(source)
        parts.append("\n".join(rng.choice(lines) for _ in range(len(source) // 400)) + "\n")
        size += len(source.encode()) + len(parts[-1].encode())
        if size >= 10_000_000:
            break
    os.makedirs(os.path.dirname(TEXT), exist_ok=True)
    with open(TEXT, "w", encoding="utf-8") as f:
        f.write("".join(parts)[:10_000_000])


def main():
    make_text()
    text = open(TEXT, encoding="utf-8").read()
    size = len(text.encode())
    runs = {"tiktoken": [], "llamakit": [], "tiktoken_load": [], "llamakit_load": []}
    for _ in range(3):
        start = time.perf_counter()
        ranks = load_tiktoken_bpe(MODEL)
        enc = tiktoken.Encoding("llama3", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens={})
        runs["tiktoken_load"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ids = enc.encode_ordinary(text)
        runs["tiktoken"].append(time.perf_counter() - start)
        out = json.loads(subprocess.run([TOOL, MODEL, TEXT], capture_output=True, text=True, check=True).stdout)
        runs["llamakit"].append(out["encode_seconds"])
        runs["llamakit_load"].append(out["load_seconds"])
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"text: {TEXT} ({size / 1e6:.1f} MB), median of 3, one thread")
    print(f"  tiktoken encode_ordinary  {size / med['tiktoken'] / 1e6:6.2f} MB/s  ({len(ids):,} tokens)")
    print(f"  llamakit encode (Meta's)  {size / med['llamakit'] / 1e6:6.2f} MB/s  ({out['tokens']:,} tokens)"
          f"  → {med['tiktoken'] / med['llamakit']:.2f}× tiktoken (target ≥ 1.0×)")
    print(f"  load 128k ranks: llamakit {med['llamakit_load'] * 1e3:.0f} ms (target ≤ 100 ms), tiktoken {med['tiktoken_load'] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
