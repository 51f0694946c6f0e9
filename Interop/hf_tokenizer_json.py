#!/usr/bin/env python3
"""Interop check, run by hand: Hugging Face loads LlamaKit's tokenizer.json files and encodes
exactly as Meta's tokenizers do.

    pip install "transformers>=5" tokenizers sentencepiece tiktoken llama-models==0.3.0
    swift build --build-tests
    python3 Interop/hf_tokenizer_json.py

Writes our tokenizer.json / tokenizer_config.json / special_tokens_map.json for the Llama 2
fixture, the Llama 3 fixture and Meta's real Llama 3 tokenizer (fixtures/.cache/llama3, fetched
by `make test`; base and instruct) through the `exportForInterop` test, then for each:

- the `tokenizers` library (`Tokenizer.from_file`) and transformers' `AutoTokenizer` (which must
  build a PreTrainedTokenizerFast from our config) encode every vector string as Meta's tokenizer
  (sentencepiece for Llama 2, llama-models' tiktoken Tokenizer for Llama 3) with BOS: strings with
  special-token text are compared with specials allowed on Meta's side (Hugging Face always
  matches them); sentencepiece has no allowed specials, so for Llama 2 those strings are skipped;
- the post-processor adds BOS; the config's EOS and chat template reach AutoTokenizer.

Strings Meta's Llama 3 wrapper cuts (over 25,000 consecutive code points of one whitespace class)
are counted apart: no tokenizer.json can express that cut.

Prints the counts; exit 1 on any difference.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
import tokenizers
import transformers
from llama_models.llama3.tokenizer import Tokenizer as MetaLlama3
from tokenizers import Tokenizer
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")


def vector_strings():
    texts = []
    for name in ("llama3-vectors.json", "llama2-vectors.json"):
        with open(os.path.join(FIXTURES, "tokenizers", name), encoding="utf-8") as f:
            texts += [v["text"] for v in json.load(f)["encode"]]
    return list(dict.fromkeys(texts))


def cut_by_meta(text, limit=25_000):
    """True when Meta's _split_whitespaces_or_nonwhitespaces would cut the text (Llama 3 only)."""
    run, previous = 0, None
    for char in text:
        space = char.isspace()
        run = run + 1 if space == previous else 1
        previous = space
        if run > limit:
            return True
    return False


def export(out):
    env = dict(os.environ, LLAMAKIT_HF_TOKENIZER_OUT=out)
    cmd = ["swift", "test", "--skip-build", "--filter", "HFTokenizerJSONTests/exportForInterop"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not os.path.exists(os.path.join(out, "llama3", "tokenizer.json")):
        sys.exit(f"exportForInterop failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def check(name, directory, meta_encode, specials, texts, problems, meta_cuts=True):
    hf = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(directory)
    if type(auto).__name__ not in ("PreTrainedTokenizerFast", "TokenizersBackend"):
        problems.append(f"{name}: AutoTokenizer built {type(auto).__name__}")
    counts = {"strings": 0, "tokenizers": 0, "AutoTokenizer": 0, "with_special_text": 0, "skipped": 0, "meta_cut_differs": 0}
    for text in texts:
        has_special = any(s in text for s in specials)
        if has_special and meta_encode(text, True) is None:
            counts["skipped"] += 1
            continue
        if meta_cuts and cut_by_meta(text):
            # Meta's Llama 3 wrapper cuts runs of > 25,000 same-class code points before encoding;
            # tokenizer.json has no way to say so (docs/formats.md §5.5, §5.9).
            expected = meta_encode(text, has_special)
            counts["meta_cut_differs"] += hf.encode(text).ids != expected
            continue
        expected = meta_encode(text, has_special)
        counts["strings"] += 1
        counts["with_special_text"] += has_special
        ids = hf.encode(text).ids
        auto_ids = auto(text)["input_ids"]
        counts["tokenizers"] += ids == expected
        counts["AutoTokenizer"] += auto_ids == expected
        if ids != expected and len(problems) < 20:
            problems.append(f"{name} tokenizers {text[:60]!r}: {ids[:12]} != {expected[:12]}")
        if auto_ids != expected and len(problems) < 20:
            problems.append(f"{name} AutoTokenizer {text[:60]!r}: {auto_ids[:12]} != {expected[:12]}")
    print(f"{name}: {counts}; AutoTokenizer class {type(auto).__name__}, bos {auto.bos_token!r}, eos {auto.eos_token!r},"
          f" chat template {'yes' if auto.chat_template else 'no'}")
    return auto


def main():
    print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    texts = vector_strings()
    problems = []
    with tempfile.TemporaryDirectory() as out:
        export(out)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(FIXTURES, "llama2-tiny", "tokenizer.model"))
        check("llama2-tiny", os.path.join(out, "llama2-tiny"),
              lambda text, special: None if special else [sp.bos_id()] + sp.encode(text),
              ["<unk>", "<s>", "</s>"], texts, problems, meta_cuts=False)
        for name, model in (("llama3-tiny", os.path.join(FIXTURES, "llama3-tiny", "tokenizer.model")),
                            ("llama3", os.path.join(FIXTURES, ".cache", "llama3", "tokenizer.model")),
                            ("llama3-instruct", os.path.join(FIXTURES, ".cache", "llama3", "tokenizer.model"))):
            meta = MetaLlama3(Path(model))
            specials = list(meta.special_tokens)
            auto = check(name, os.path.join(out, name),
                         lambda text, special: meta.encode(text, bos=True, eos=False, allowed_special="all" if special else set()),
                         specials, texts, problems)
            if name == "llama3-instruct":
                if auto.eos_token != "<|eot_id|>" or not auto.chat_template:
                    problems.append("llama3-instruct: eos or chat template lost")
                rendered = auto.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
                if rendered != "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>":
                    problems.append(f"llama3-instruct: chat template rendered {rendered!r}")
    for problem in problems:
        print("PROBLEM", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
