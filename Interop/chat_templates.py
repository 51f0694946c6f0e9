#!/usr/bin/env python3
"""Our chat templates, rendered by llama.cpp and by transformers, give Meta's chat prompt ids.

For every dialog of fixtures/chat/golden.json (ids from llama-models' ChatFormat and the llama
repository's Llama 2 chat_completion):

  llama.cpp     `llamakit convert --instruct --vocab-only` writes a GGUF with tokenizer.chat_template;
                llama.cpp loads it (llama-cpp-python, vocab only), llama_chat_apply_template renders
                the dialog with that template (add_ass = true), and llama.cpp's own tokenizer
                tokenizes the text (BOS added, special tokens parsed)
  transformers  `llamakit convert --instruct --to hf` writes tokenizer.json and tokenizer_config.json;
                AutoTokenizer.apply_chat_template(dialog, add_generation_prompt=True) tokenizes it

Both id lists must equal Meta's. Llama 3 runs on the real Llama 3 tokenizer (the 1B-shaped
checkpoint of Benchmarks/bench_read.py, whose directory holds Meta's tokenizer.model), Llama 2 on
fixtures/llama2-tiny. llama.cpp does not execute the template: it recognises the format by its
markers and applies its built-in one, which trims each message's content and writes the role as
given (so a `tool` message gets the header `tool`, not Meta's `ipython`); dialogs where that matters
are reported as such, not hidden.

    LLAMA_CPP_LIB_PATH=/path/to/llama.cpp/build/bin python3 Interop/chat_templates.py
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMAKIT = os.environ.get("LLAMAKIT", os.path.join(ROOT, ".build", "release", "llamakit"))
LLAMA3_CHECKPOINT = os.path.join(ROOT, "Benchmarks", ".work", "llama-3.2-1b-bf16")
CHECKPOINTS = {"llama3": LLAMA3_CHECKPOINT, "llama2": os.path.join(ROOT, "fixtures", "llama2-tiny")}


def convert(checkpoint, work, name, extra):
    link = os.path.join(work, name)
    os.symlink(checkpoint, link)
    out = os.path.join(work, name + ("-hf" if "hf" in extra else ".gguf"))
    subprocess.run([LLAMAKIT, "convert", link, "-o", out, "--instruct", "--no-sync"] + extra, check=True, capture_output=True)
    return out


def llama_cpp_ids(gguf, dialog):
    import llama_cpp

    model = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    template = model.metadata["tokenizer.chat_template"].encode()
    messages = (llama_cpp.llama_chat_message * len(dialog))(
        *[llama_cpp.llama_chat_message(m["role"].encode(), m["content"].encode()) for m in dialog])
    buffer = ctypes.create_string_buffer(1 << 16)
    n = llama_cpp.llama_chat_apply_template(template, messages, len(dialog), True, buffer, len(buffer))
    if n < 0:
        return None, "llama.cpp does not recognise the template"
    text = buffer.raw[:n]
    return model.tokenize(text, add_bos=True, special=True), text.decode()


def transformers_ids(directory, dialog):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    ids = tokenizer.apply_chat_template(dialog, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def main():
    with open(os.path.join(ROOT, "fixtures", "chat", "golden.json")) as f:
        cases = json.load(f)
    results = {"llama.cpp": [0, 0, []], "transformers": [0, 0, []]}
    with tempfile.TemporaryDirectory() as work:
        for family, checkpoint in CHECKPOINTS.items():
            if not os.path.exists(os.path.join(checkpoint, "tokenizer.model")):
                raise SystemExit(f"{checkpoint}/tokenizer.model is missing (see Benchmarks/bench_read.py)")
            gguf = convert(checkpoint, work, f"{family}-Instruct", ["--vocab-only"])
            hf = convert(checkpoint, work, f"{family}-Chat", ["--to", "hf"])
            for case in (c for c in cases if c["format"] == family):
                label = f"{family}: {[m['content'][:24] for m in case['dialog']]}"
                for tool, ids in (("llama.cpp", llama_cpp_ids(gguf, case["dialog"])[0]),
                                  ("transformers", transformers_ids(hf, case["dialog"]))):
                    results[tool][1] += 1
                    if ids == case["ids"]:
                        results[tool][0] += 1
                    else:
                        results[tool][2].append(label)
    for tool, (same, total, differing) in results.items():
        print(f"{tool}: {same} of {total} dialogs give Meta's ids")
        for label in differing:
            print(f"  differs: {label}")
    return 0 if results["transformers"][0] == results["transformers"][1] else 1


if __name__ == "__main__":
    sys.exit(main())
