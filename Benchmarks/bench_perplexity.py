#!/usr/bin/env python3
"""Perplexity speed: `llamakit perplexity` vs llama.cpp's `llama-perplexity`, side by side in one run.

The Llama-3.2-1B-shaped bf16 checkpoint of bench_read.py is converted by llamakit to Q8_0 and F16
(llama.cpp loads those files as they are). Both tools evaluate the same text (a grammar text of
the fixtures, 400 sentences, tokenized with the real Llama 3 tokenizer) in --chunks 4 chunks of
ctx 512 with --threads 2, alternating, median of --runs. Throughput is tokens evaluated per second
(chunks × ctx ÷ time): llama.cpp's own "seconds per pass" line (one pass = its n_seq = 4 chunks in
one batch of 2048, its default), and LlamaKit's `tokens_per_s` (forward passes and scoring, loading
excluded). Also the two PPL figures.

    LLAMA_CPP_BIN=/path/to/llama.cpp/build/bin python3 Benchmarks/bench_perplexity.py [--runs 3]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
from make_reference import demo_text  # noqa: E402

WORK = os.path.join(ROOT, "Benchmarks", ".work")
CKPT = os.path.join(WORK, "llama-3.2-1b-bf16")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
BIN = os.environ.get("LLAMA_CPP_BIN", "")
CTX, CHUNKS = 512, 4


def run_to_files(args):
    # Files, not pipes: llama.cpp's logging thread can lose its last lines when writing to a pipe.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(args, stdout=out, stderr=err).returncode
        out.seek(0)
        err.seek(0)
        log = out.read() + err.read()
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{log[-3000:]}")
    return log


def llama_cpp(model, text, threads):
    for _ in range(5):
        log = run_to_files([os.path.join(BIN, "llama-perplexity"), "-m", model, "-f", text, "-c", str(CTX), "--chunks",
                            str(CHUNKS), "-t", str(threads)])
        # One pass evaluates n_seq chunks in one batch (all CHUNKS here: its default batch is 2048).
        seq = re.search(r"n_seq=(\d+)", log)
        seconds = re.search(r"([0-9.]+) seconds per pass", log)
        ppl = re.search(r"Final estimate: PPL = ([0-9.]+)", log)
        if seq and seconds and ppl:
            return int(seq.group(1)) * CTX / float(seconds.group(1)), float(ppl.group(1))
    raise SystemExit("llama-perplexity never printed its timings")


def llamakit(model, text, threads):
    out = subprocess.run([LLAMAKIT, "perplexity", model, "--text-file", text, "--ctx", str(CTX), "--chunks", str(CHUNKS),
                          "--threads", str(threads), "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return result["tokens_per_s"], result["ppl"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not BIN:
        raise SystemExit("set LLAMA_CPP_BIN to a llama.cpp build's bin directory (with llama-perplexity)")
    if not os.path.exists(os.path.join(CKPT, "tokenizer.model")):
        raise SystemExit(f"{CKPT} with tokenizer.model is missing: run Benchmarks/bench_read.py first and copy "
                         "fixtures/.cache/llama3/tokenizer.model into it")
    text = os.path.join(WORK, "perplexity-text.txt")
    with open(text, "w") as f:
        f.write(demo_text(sentences=400, seed=4242))
    print(f"ctx {CTX}, {CHUNKS} chunks, {args.threads} threads, median of {args.runs}")
    print(f"{'file':6} {'LlamaKit t/s':>13} {'llama.cpp t/s':>14} {'ratio':>7}   {'PPL LlamaKit':>13} {'llama.cpp':>10}   runs")
    for kind in ["q8_0", "f16"]:
        model = os.path.join(WORK, f"llama-3.2-1b-{kind}.gguf")
        if not os.path.exists(model):
            subprocess.run([LLAMAKIT, "convert", CKPT, "-o", model, "--type", kind], check=True, capture_output=True)
        ours, theirs, ppl_ours, ppl_theirs = [], [], 0.0, 0.0
        for _ in range(args.runs):
            speed, ppl_ours = llamakit(model, text, args.threads)
            ours.append(speed)
            speed, ppl_theirs = llama_cpp(model, text, args.threads)
            theirs.append(speed)
        a, b = statistics.median(ours), statistics.median(theirs)
        runs = ", ".join(f"{x:.1f}/{y:.1f}" for x, y in zip(ours, theirs))
        print(f"{kind:6} {a:13.1f} {b:14.1f} {a / b:6.2f}×   {ppl_ours:13.2f} {ppl_theirs:10.2f}   {runs}")


if __name__ == "__main__":
    main()
