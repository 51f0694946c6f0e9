#!/usr/bin/env python3
"""Our split sets are llama-gguf-split's, byte for byte, and llama-gguf-split merges them back.

For each fixture and limit:

  1. `llamakit convert FIXTURE -o unsplit.gguf [--type T]`, one file;
  2. `llama-gguf-split --split --split-max-tensors N` (or `--split-max-size S`) on it → theirs-0000i-of-0000N.gguf;
  3. `llamakit convert FIXTURE -o ours.gguf --split-max-tensors N` → ours-0000i-of-0000N.gguf;
  4. the member lists must have the same length and each pair of members the same bytes;
  5. `llama-gguf-split --merge` of our set; the merge writes the three split keys back into the
     merged file (split.count 0, so it is not taken for a set), so it is compared with the
     unsplit file tensor data for tensor data and key for key once those three keys are set aside.

Not in CI: it needs llama.cpp's tools.

    LLAMA_GGUF_SPLIT=/path/to/llama-gguf-split python3 Interop/gguf_split_matches_llama_cpp.py
"""
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMAKIT = os.environ.get("LLAMAKIT", os.path.join(ROOT, ".build", "release", "llamakit"))
SPLIT = os.environ.get("LLAMA_GGUF_SPLIT", "/work/oracle/build/bin/llama-gguf-split")
sys.path.insert(0, os.environ.get("GGUF_PY", "/work/oracle/src/llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py"))

CASES = [
    ("k256", [], ["--split-max-tensors", "3"]),
    ("k256", [], ["--split-max-tensors", "128"]),
    ("demo", ["--type", "q8_0"], ["--split-max-tensors", "4"]),
    ("demo", ["--type", "q8_0"], ["--split-max-tensors", "1"]),
    ("llama31-tiny", ["--type", "bf16"], ["--split-max-tensors", "5"]),
]
# llama-gguf-split takes whole M/G only; a 1M limit cuts the demo model (≈0.8 MB) only when a
# fixture is big enough, so the size rows use the smallest unit it accepts.
SIZE_CASES = [("demo", ["--type", "f32"], ["--split-max-size", "1M"])]
# `quantize` writes through the same writer: its split output against llama-gguf-split of its
# unsplit output (the input is the fixture converted to f16).
QUANTIZE_CASES = [("demo", ["--type", "q4_k_m"], ["--split-max-tensors", "6"])]


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def members(prefix):
    return sorted(glob.glob(prefix + "-*-of-*.gguf"))


def first_difference(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        x, y = fa.read(), fb.read()
    if x == y:
        return None
    n = next((i for i in range(min(len(x), len(y))) if x[i] != y[i]), min(len(x), len(y)))
    return f"sizes {len(x)} and {len(y)}, first different byte at {n}"


def merged_matches(unsplit, merged):
    from gguf import GGUFReader

    a, b = GGUFReader(unsplit), GGUFReader(merged)
    split_keys = {"split.no", "split.count", "split.tensors.count"}
    keys_a = [(f.name, bytes(f.data and f.parts[f.data[0]].tobytes() or b"")) for f in a.fields.values() if not f.name.startswith("GGUF.")]
    keys_b = [(f.name, bytes(f.data and f.parts[f.data[0]].tobytes() or b""))
              for f in b.fields.values() if not f.name.startswith("GGUF.") and f.name not in split_keys]
    if keys_a != keys_b:
        return "metadata differs"
    for ta, tb in zip(a.tensors, b.tensors, strict=True):
        if ta.name != tb.name or ta.tensor_type != tb.tensor_type or ta.data.tobytes() != tb.data.tobytes():
            return f"tensor {ta.name} differs"
    return None


def check(fixture, convert_args, split_args, work, quantize=False):
    tag = f"{'quantize ' if quantize else ''}{fixture} {' '.join(convert_args)} {' '.join(split_args)}".replace("  ", " ")
    base = os.path.join(work, fixture + "".join(convert_args).replace("-", "_") + ("-q" if quantize else ""))
    unsplit = base + ".gguf"
    checkpoint = os.path.join(ROOT, "fixtures", fixture)
    if quantize:
        source = base + "-f16.gguf"
        run([LLAMAKIT, "convert", checkpoint, "-o", source, "--type", "f16", "--no-sync"])
        write = lambda out, extra: run([LLAMAKIT, "quantize", source, out, "--no-sync"] + convert_args + extra)
    else:
        write = lambda out, extra: run([LLAMAKIT, "convert", checkpoint, "-o", out, "--no-sync"] + convert_args + extra)
    if not os.path.exists(unsplit):
        write(unsplit, [])
    theirs = base + "-theirs" + split_args[1]
    ours = base + "-ours" + split_args[1]
    run([SPLIT, "--split"] + split_args + [unsplit, theirs])
    write(ours + ".gguf", split_args)
    a, b = members(theirs), members(ours)
    problems = []
    if [os.path.basename(p).replace("-theirs", "-ours") for p in a] != [os.path.basename(p) for p in b]:
        problems.append(f"member names differ: {a} vs {b}")
    for x, y in zip(a, b):
        difference = first_difference(x, y)
        if difference:
            problems.append(f"{os.path.basename(y)}: {difference}")
    merged = ours + "-merged.gguf"
    run([SPLIT, "--merge", b[0], merged])
    merge_problem = merged_matches(unsplit, merged)
    if merge_problem:
        problems.append("merge: " + merge_problem)
    print(f"{'ok  ' if not problems else 'FAIL'} {tag}: {len(b)} files" + ("" if not problems else "; " + "; ".join(problems)))
    return not problems


def main():
    with tempfile.TemporaryDirectory() as work:
        results = [check(f, c, s, work) for f, c, s in CASES + SIZE_CASES]
        results += [check(f, c, s, work, quantize=True) for f, c, s in QUANTIZE_CASES]
    print(f"{sum(results)}/{len(results)} cases byte-identical to llama-gguf-split, merged back by it")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
