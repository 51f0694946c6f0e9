#!/usr/bin/env python3
"""Proof on large shapes (issue 15): Llama-3-70B- and 405B-shaped MP8 shard sets, truncated to 2
layers and 1 layer, written on demand (never committed), converted to BF16 and Q8_0 and verified
against Meta's reference logits, with time and peak RSS side by side with `cp` in one run.

    python3 Benchmarks/large_shapes.py make 70b       # Benchmarks/.work/large-70b-mp8/   7.6 GB
    python3 Benchmarks/large_shapes.py measure 70b [--runs N]
    python3 Benchmarks/large_shapes.py make 405b      # Benchmarks/.work/large-405b-mp8/ 14.7 GB
    python3 Benchmarks/large_shapes.py measure 405b [--runs N]

Shapes (Meta's params.json, bf16, Meta's tensor names and fairscale's split, 8 shards
`consolidated.00.pth` … `07.pth` written by torch.save, plus Meta's real Llama 3 tokenizer.model):

  70b   dim 8192,  2 layers, 64 heads,  8 KV heads, ffn 28672, vocab 128256   7.6 GB, largest tensor 2.1 GB
  405b  dim 16384, 1 layer, 128 heads,  8 KV heads, ffn 53248, vocab 128256  14.7 GB, largest tensor 4.2 GB

`make` builds llama-models' `Transformer` (world size 1, fairscale initialised as
fixtures/make_fixtures.init_model_parallel does) with bf16 parameters, fills them tensor by tensor
from one seeded torch.Generator (matrices N(0, 1/in_features), drawn in f32 pieces of 64M values
and rounded to bf16; norms 1 + N(0, 0.1²)), writes the 8 shards one at a time (each shard's slices
cloned, saved, freed: column-parallel wq wk wv w1 w3 output on dim 0, row-parallel wo w2 on dim 1,
the Llama 3 embedding on dim 0, norms replicated, as make_fixtures.split_for_model_parallel), then
computes `reference/reference.pth` = {"tokens": LongTensor[16], "logits": FloatTensor[16, 128256]}
with that same model on the merged weights: BOS 128000, then 15 ids drawn by numpy's
default_rng(0) from [0, 128000).

The reference is f32 arithmetic on the bf16 weights, without an f32 copy of the model (the 405B
shape would need 29 GB of the machine's 24 GiB): the parameters stay bf16 and
  - every module with parameters (RMSNorm, and each linear layer whose f32 weight is ≤ 1 GiB) gets
    a forward pre-hook that swaps in an f32 copy of its parameters (bf16 → f32 is exact) and a
    forward hook that puts the bf16 originals back, so Meta's forward runs on f32 tensors
    throughout (the embedding's f32 output makes the residual stream, the KV cache, the mask and
    the norms f32);
  - each linear layer whose f32 weight exceeds 1 GiB — the output projection [128256, dim] in both
    shapes, and in the 405B shape also w1, w2, w3 (wq and wo are 1 GiB and upcast whole) — is
    computed in f32 in row pieces of ≤ 256 MB (each piece of the weight upcast, `F.linear` on it,
    the pieces' outputs concatenated): every logit and activation is still one f32 dot product
    over the whole input;
  - the embedding is looked up in bf16 and its output cast to f32 (a lookup does not round).

Needs torch, fairscale, llama-models 0.3.0 and numpy; a release build (`make release`) and
Meta's tokenizer (`make fixtures/.cache/llama3/tokenizer.model`). Resources on this project's
2-core, 24 GiB machine: `make 70b` 1 minute, peak RSS 8.7 GB, 7.6 GB of disk; `make 405b`
2¼ minutes, peak RSS 16.5 GB, 14.8 GB of disk (/usr/bin/time -v). `measure` needs the set's size
again for the largest output (the BF16 GGUF; outputs are written one at a time into
Benchmarks/.work/ and deleted after each run), about 4 minutes per run for 70b and 10 for 405b.

`measure` runs, side by side in one run (warm page cache; `sync`, untimed, before every timed run;
--runs rounds in alternating order, medians reported):
  cp of the 8 shards (into Benchmarks/.work, then deleted) | cp + sync of the copy |
  convert --type bf16 | convert --type q8_0 | convert --type q8_0 --no-sync |
  verify of the BF16 and the Q8_0 GGUF and of the shard set itself against reference.pth
and prints a markdown table of the issue's targets with ✔/✘ computed from the measured figures
(largest tensor and model bytes from `llamakit inspect --json` of the set):
  - peak RSS of convert ≤ 3 × the largest tensor + 200 MB;
  - verify peak RSS ≤ the model's bytes ÷ shards + 500 MB (page cache excluded: llamakit's
    `peak anonymous RSS` when it reports one, else RssAnon sampled every 10 ms from /proc);
  - convert --type q8_0 ≤ 2 × cp (--no-sync against cp; with fsync against cp + sync).
Peak RSS is llamakit's own `llamakit: peak RSS N kB` (LLAMAKIT_REPORT_PEAK_RSS=1, its VmHWM,
mapped file pages included) and /usr/bin/time -v's for cp.
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", ".work")
LLAMAKIT = os.path.join(ROOT, ".build", "release", "llamakit")
TOKENIZER = os.path.join(ROOT, "fixtures", ".cache", "llama3", "tokenizer.model")
MP = 8
POSITIONS = 16
SEED = 15
F32_WHOLE_LIMIT = 1 << 30  # bytes: an f32 weight above this is computed in row pieces
F32_PIECE = 256 << 20  # bytes of f32 weight per piece

SHAPES = {
    "70b": {"dim": 8192, "n_layers": 2, "n_heads": 64, "n_kv_heads": 8, "vocab_size": 128256,
            "multiple_of": 4096, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0,
            "use_scaled_rope": True},
    "405b": {"dim": 16384, "n_layers": 1, "n_heads": 128, "n_kv_heads": 8, "vocab_size": 128256,
             "multiple_of": 4096, "ffn_dim_multiplier": 1.2, "norm_eps": 1e-05, "rope_theta": 500000.0,
             "use_scaled_rope": True},
}


def set_dir(shape):
    return os.path.join(WORK, f"large-{shape}-mp8")


# ---------------------------------------------------------------------------------------------
# make


def split_dim(name):
    """fairscale's layout, as make_fixtures.split_for_model_parallel (Llama 3: embedding on dim 0)."""
    module = name.split(".")[-2]
    if name == "tok_embeddings.weight":
        return 0
    if module in ("wq", "wk", "wv", "w1", "w3", "output"):
        return 0
    if module in ("wo", "w2"):
        return 1
    return None


def build_model(params):
    """Meta's Transformer with bf16 parameters (uninitialised: its init_method is identity)."""
    import torch
    from llama_models.llama3.args import ModelArgs
    from llama_models.llama3.model import Transformer

    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    import make_fixtures

    make_fixtures.init_model_parallel()
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = Transformer(ModelArgs(**params, max_batch_size=1, max_seq_len=POSITIONS))
    finally:
        torch.set_default_dtype(torch.float32)
    model.eval()
    return model


def fill(model, seed):
    """Matrices N(0, 1/in_features), norms 1 + N(0, 0.1²), drawn in f32 pieces, stored bf16."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            assert p.dtype == torch.bfloat16, name
            if p.ndim == 1:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
                continue
            rows, cols = p.shape
            step = max(1, (64 << 20) // cols)
            for r in range(0, rows, step):
                n = min(step, rows - r)
                p[r:r + n].copy_(torch.randn(n, cols, generator=g).mul_(1 / math.sqrt(cols)))


def write_shards(model, directory):
    """One shard at a time: its slices cloned (torch.save would otherwise save whole storages)."""
    import torch

    sd = model.state_dict()
    for rank in range(MP):
        shard = {}
        for name, t in sd.items():
            dim = split_dim(name)
            shard[name] = t.clone() if dim is None else t.chunk(MP, dim=dim)[rank].clone()
        path = os.path.join(directory, f"consolidated.{rank:02d}.pth")
        torch.save(shard, path + ".part")
        os.replace(path + ".part", path)
        del shard
        print(f"  wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB)", file=sys.stderr)


def f32_forward(model):
    """Hooks that make Meta's forward compute in f32 on bf16 parameters (see the docstring)."""
    import torch
    import torch.nn.functional as F
    from fairscale.nn.model_parallel.layers import ColumnParallelLinear, RowParallelLinear, VocabParallelEmbedding

    def upcast(module, _args):
        module._bf16 = dict(module._parameters)
        for n, p in module._bf16.items():
            if p is not None:
                module._parameters[n] = p.float()

    def restore(module, _args, _output):
        module._parameters.update(module._bf16)
        del module._bf16

    def pieces(module):
        # World size 1: ColumnParallelLinear and RowParallelLinear are exactly F.linear (no bias).
        def forward(x):
            w = module.weight
            step = max(1, F32_PIECE // (4 * w.shape[1]))
            return torch.cat([F.linear(x, w[r:r + step].float()) for r in range(0, w.shape[0], step)], dim=-1)

        return forward

    handles, pieced = [], []
    for name, m in model.named_modules():
        if not list(m.parameters(recurse=False)):
            continue
        if isinstance(m, VocabParallelEmbedding):
            handles.append(m.register_forward_hook(lambda _m, _a, out: out.float()))
        elif isinstance(m, (ColumnParallelLinear, RowParallelLinear)) and 4 * m.weight.numel() > F32_WHOLE_LIMIT:
            m.forward = pieces(m)
            pieced.append(name)
        else:
            assert isinstance(m, (ColumnParallelLinear, RowParallelLinear)) or type(m).__name__ == "RMSNorm", name
            handles.append(m.register_forward_pre_hook(upcast))
            handles.append(m.register_forward_hook(restore))
    return handles, pieced


def reference(model, directory, vocab):
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    tokens = [128000] + rng.integers(0, 128000, POSITIONS - 1).tolist()
    handles, pieced = f32_forward(model)
    print(f"  reference: f32 in row pieces for {', '.join(pieced)}", file=sys.stderr)
    start = time.perf_counter()
    logits = model.forward(torch.tensor([tokens], dtype=torch.long), 0)[0]
    for h in handles:
        h.remove()
    assert logits.dtype == torch.float32 and logits.shape == (POSITIONS, vocab), (logits.dtype, logits.shape)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    out = os.path.join(directory, "reference")
    os.makedirs(out, exist_ok=True)
    torch.save({"tokens": torch.tensor(tokens, dtype=torch.long), "logits": logits.contiguous().clone()},
               os.path.join(out, "reference.pth"))
    print(f"  reference: {POSITIONS} positions × {vocab} logits in {time.perf_counter() - start:.1f} s, range "
          f"{logits.min().item():.3f} … {logits.max().item():.3f}, top-1 ids {logits.argmax(-1).tolist()}",
          file=sys.stderr)


def make(shape):
    import torch

    torch.set_num_threads(os.cpu_count())
    directory = set_dir(shape)
    params = SHAPES[shape]
    if os.path.exists(os.path.join(directory, "reference", "reference.pth")):
        print(f"{directory} exists", file=sys.stderr)
        return
    os.makedirs(directory, exist_ok=True)
    start = time.perf_counter()
    print(f"generating {directory} …", file=sys.stderr)
    model = build_model(params)
    fill(model, SEED)
    total = sum(p.numel() * 2 for p in model.parameters())
    print(f"  filled {total / 1e9:.2f} GB of bf16 in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    write_shards(model, directory)
    with open(os.path.join(directory, "params.json"), "w") as f:
        json.dump(params, f)
    shutil.copyfile(TOKENIZER, os.path.join(directory, "tokenizer.model"))
    reference(model, directory, params["vocab_size"])
    print(f"{directory}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# measure


def sample_anon(pid, peak):
    """Peak RssAnon of a running process, sampled every 10 ms (a fallback for llamakit builds that
    do not report their peak anonymous RSS)."""
    path = f"/proc/{pid}/status"
    while True:
        try:
            with open(path) as f:
                m = re.search(r"RssAnon:\s+(\d+) kB", f.read())
        except OSError:
            return
        if m:
            peak[0] = max(peak[0], int(m.group(1)) * 1024)
        time.sleep(0.01)


def timed(cmd, sync=True):
    """Wall time, peak RSS (llamakit's own report, else /usr/bin/time -v), peak anonymous RSS
    (llamakit's report, else sampled), exit status, stdout."""
    if sync:
        subprocess.run(["sync"], check=True)
    env = dict(os.environ, LLAMAKIT_REPORT_PEAK_RSS="1")
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    anon = [0]
    sampler = None
    if cmd[0] == LLAMAKIT:
        # /usr/bin/time's child is the command; find it and sample it.
        for _ in range(200):
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                sampler = threading.Thread(target=sample_anon, args=(int(kids[0]), anon), daemon=True)
                sampler.start()
                break
            time.sleep(0.005)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    if sampler:
        sampler.join()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) * 1024
    m = re.search(r"llamakit: peak RSS (\d+) kB", err)
    if m:
        rss = int(m.group(1)) * 1024
    m = re.search(r"llamakit: peak anonymous RSS (\d+) kB", err)
    anon_source = "reported" if m else "sampled"
    anon_bytes = int(m.group(1)) * 1024 if m else anon[0]
    status = re.search(r"Exit status: (\d+)", err)
    return {"seconds": elapsed, "rss": rss, "anon": anon_bytes, "anon_source": anon_source,
            "status": int(status.group(1)) if status else proc.returncode, "stdout": out, "stderr": err}


def model_figures(directory):
    info = json.loads(subprocess.run([LLAMAKIT, "inspect", directory, "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    sizes = [t["bytes"] for t in info["tensors"]]
    shards = len([f for f in os.listdir(directory) if re.fullmatch(r"consolidated\.\d\d\.pth", f)])
    return sum(sizes), max(sizes), len(sizes), shards


def fmt_mb(b):
    return f"{b / 1e6:,.0f} MB"


def measure(shape, runs):
    directory = set_dir(shape)
    ref = os.path.join(directory, "reference", "reference.pth")
    if not os.path.exists(ref):
        sys.exit(f"{directory} is missing: run `python3 Benchmarks/large_shapes.py make {shape}` first")
    model_bytes, largest, count, shards = model_figures(directory)
    shard_paths = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("consolidated."))
    set_bytes = sum(os.path.getsize(p) for p in shard_paths)
    copy_dir = os.path.join(WORK, f"copy-{shape}")
    bf16 = os.path.join(WORK, f"large-{shape}-bf16.gguf")
    q8 = os.path.join(WORK, f"large-{shape}-q8_0.gguf")

    def fresh_copy_dir():
        shutil.rmtree(copy_dir, ignore_errors=True)
        os.makedirs(copy_dir)

    # label: (command, prepare, outputs deleted after, is a verify of …)
    rows = [
        ("cp", lambda: ["cp"] + shard_paths + [copy_dir], fresh_copy_dir, [copy_dir]),
        ("cp + sync", lambda: ["sh", "-c", "cp \"$@\" && sync", "cp"] + shard_paths + [copy_dir], fresh_copy_dir,
         [copy_dir]),
        ("convert --type bf16", lambda: [LLAMAKIT, "convert", directory, "-o", bf16, "--type", "bf16"], None, []),
        ("verify BF16 GGUF", lambda: [LLAMAKIT, "verify", bf16, "--reference", ref, "--json"], None, [bf16]),
        ("convert --type q8_0", lambda: [LLAMAKIT, "convert", directory, "-o", q8, "--type", "q8_0"], None, []),
        ("verify Q8_0 GGUF", lambda: [LLAMAKIT, "verify", q8, "--reference", ref, "--json"], None, [q8]),
        ("convert --type q8_0 --no-sync", lambda: [LLAMAKIT, "convert", directory, "-o", q8, "--type", "q8_0",
                                                   "--no-sync"], None, [q8]),
        ("verify shard set", lambda: [LLAMAKIT, "verify", directory, "--reference", ref, "--json"], None, []),
    ]
    # Rounds alternate in order; a verify always follows its convert, so the pairs move together.
    groups = [rows[0:1], rows[1:2], rows[2:4], rows[4:6], rows[6:7], rows[7:8]]
    print(f"{directory}: {shards} shards, {count} tensors, {model_bytes / 1e9:.2f} GB of tensors "
          f"({set_bytes / 1e9:.2f} GB of files), largest tensor {largest / 1e9:.2f} GB", file=sys.stderr)
    samples = {label: [] for label, *_ in rows}
    for round_ in range(runs):
        subprocess.run(["cat"] + shard_paths, stdout=subprocess.DEVNULL, check=True)  # warm
        for group in (groups if round_ % 2 == 0 else groups[::-1]):
            for label, command, prepare, outputs in group:
                if prepare:
                    prepare()
                r = timed(command())
                samples[label].append(r)
                extra = ""
                if label.startswith("verify") and r["stdout"].strip().startswith("{"):
                    extra = "  " + json.dumps(json.loads(r["stdout"]), separators=(",", ":"))
                elif label.startswith("convert") and r["stdout"].strip():
                    extra = "  " + r["stdout"].strip().splitlines()[0]
                print(f"  round {round_ + 1}: {label:30} {r['seconds']:8.2f} s  peak RSS {fmt_mb(r['rss']):>10}"
                      f"  anon {fmt_mb(r['anon']):>10} ({r['anon_source']})  exit {r['status']}{extra}",
                      file=sys.stderr)
                if r["status"] not in (0, 1):
                    sys.exit(f"{label} failed ({r['status']}): {' '.join(command())}\n{r['stderr'][-3000:]}")
                for o in outputs:
                    shutil.rmtree(o) if os.path.isdir(o) else os.remove(o)
    shutil.rmtree(copy_dir, ignore_errors=True)

    med = {label: statistics.median(r["seconds"] for r in rs) for label, rs in samples.items()}
    rss = {label: max(r["rss"] for r in rs) for label, rs in samples.items()}
    anon = {label: max(r["anon"] for r in rs) for label, rs in samples.items()}
    anon_src = {label: rs[0]["anon_source"] for label, rs in samples.items()}
    ok = lambda b: "✔" if b else "✘"

    convert_cap = 3 * largest + 200e6
    verify_cap = model_bytes / shards + 500e6
    print(f"\n{shape}-shaped MP{shards} set: {count} tensors, {model_bytes / 1e9:.2f} GB (largest tensor "
          f"{largest / 1e9:.2f} GB); medians of {runs} alternating run{'s' if runs > 1 else ''}, warm page cache\n")
    print("| run | runs (s) | median | ratio | peak RSS | peak anonymous RSS | result |")
    print("|---|---|---|---|---|---|---|")
    for label, rs in samples.items():
        times = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        ratio = ""
        if label.startswith("convert"):
            base = "cp + sync" if "--no-sync" not in label else "cp"
            ratio = f"{med[label] / med[base]:.2f}× {base}"
        result = ""
        if label.startswith("verify"):
            v = [json.loads(r["stdout"]) for r in rs if r["stdout"].strip().startswith("{")]
            if v:
                last = v[-1]
                result = (f"{'PASS' if all(x['pass'] for x in v) else 'FAIL'}: max \\|Δ\\| {last['max_abs_diff']:.3g} "
                          f"({last['relative_max_diff']:.2g} of range), mean KLD {last['mean_kld']:.3g}, "
                          f"top-1 {100 * last['top1_agreement']:.2f} %, gate {last['gate']['name']}")
        anon_cell = f"{fmt_mb(anon[label])}" + (" (sampled)" if anon_src[label] == "sampled" and label != "cp"
                                                 and label != "cp + sync" else "")
        if label.startswith("cp"):
            anon_cell = ""
        print(f"| {label} | {times} | {med[label]:.2f} s | {ratio} | {fmt_mb(rss[label])} | {anon_cell} | {result} |")
    print()
    print("| target | measured | bound | |")
    print("|---|---|---|---|")
    for label in ("convert --type bf16", "convert --type q8_0", "convert --type q8_0 --no-sync"):
        print(f"| peak RSS of `{label}` ≤ 3 × largest tensor + 200 MB | {fmt_mb(rss[label])} | "
              f"{fmt_mb(convert_cap)} | {ok(rss[label] <= convert_cap)} |")
    for label in ("verify shard set", "verify BF16 GGUF", "verify Q8_0 GGUF"):
        print(f"| `{label}` peak RSS, page cache excluded, ≤ model bytes ÷ {shards} + 500 MB | "
              f"{fmt_mb(anon[label])} (all pages: {fmt_mb(rss[label])}) | {fmt_mb(verify_cap)} | "
              f"{ok(anon[label] <= verify_cap)} |")
    r1 = med["convert --type q8_0 --no-sync"] / med["cp"]
    r2 = med["convert --type q8_0"] / med["cp + sync"]
    print(f"| `convert --type q8_0 --no-sync` ≤ 2 × `cp` | {r1:.2f}× ({med['convert --type q8_0 --no-sync']:.2f} s "
          f"vs {med['cp']:.2f} s) | 2× | {ok(r1 <= 2)} |")
    print(f"| `convert --type q8_0` (fsync) ≤ 2 × `cp` + `sync` | {r2:.2f}× ({med['convert --type q8_0']:.2f} s "
          f"vs {med['cp + sync']:.2f} s) | 2× | {ok(r2 <= 2)} |")
    for label in ("verify BF16 GGUF", "verify Q8_0 GGUF", "verify shard set"):
        v = [json.loads(r["stdout"]) for r in samples[label] if r["stdout"].strip().startswith("{")]
        passed = bool(v) and len(v) == len(samples[label]) and all(x["pass"] for x in v)
        print(f"| `{label}` against Meta's reference logits | {'PASS' if passed else 'FAIL'} | gate "
              f"{v[-1]['gate']['name'] if v else '?'} | {ok(passed)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["make", "measure"])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--runs", type=int, default=1, help="rounds of the measured runs (medians reported)")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if args.action == "make":
        make(args.shape)
    else:
        measure(args.shape, args.runs)


if __name__ == "__main__":
    main()
