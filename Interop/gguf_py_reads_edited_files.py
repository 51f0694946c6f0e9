#!/usr/bin/env python3
"""gguf-py reads every file `llamakit edit` writes, with the new values and types, and the tensors
unchanged.

    python3 Interop/gguf_py_reads_edited_files.py LLAMAKIT_BINARY

Converts fixtures/demo to Q8_0, then edits it three ways: into a new file (-o) with a new key of
every value type, arrays of several element types, existing keys changed in place (their types
kept, one type changed), a removal and Meta's Llama 3 chat template by name; in place with a
chat template from a UTF-8 file; and in place with general.alignment forced to 64. Each result
is read with gguf.GGUFReader: every edited key has the expected value and type, every other key
is as it was, the removed key is gone, and every tensor's bytes are the original's (with the
file's own alignment the whole data section is byte-identical). Exit 1 with a list of problems.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader
from gguf import GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
U64_MAX, I64_MIN = 2**64 - 1, -(2**63)

# --set arguments and what gguf-py must read: (type, element type or None, value).
NEW_KEYS = {
    "x.u8:u8=200": ("x.u8", V.UINT8, None, 200),
    "x.i8:i8=-100": ("x.i8", V.INT8, None, -100),
    "x.u16:u16=65535": ("x.u16", V.UINT16, None, 65535),
    "x.i16:i16=-32768": ("x.i16", V.INT16, None, -32768),
    "x.u32:u32=4294967295": ("x.u32", V.UINT32, None, 2**32 - 1),
    "x.i32:i32=-2147483648": ("x.i32", V.INT32, None, -(2**31)),
    f"x.u64:u64={U64_MAX}": ("x.u64", V.UINT64, None, U64_MAX),
    f"x.i64:i64={I64_MIN}": ("x.i64", V.INT64, None, I64_MIN),
    "x.f32:f32=0.1": ("x.f32", V.FLOAT32, None, 0.1),
    "x.f64:f64=-2.5e-300": ("x.f64", V.FLOAT64, None, -2.5e-300),
    "x.bool:bool=false": ("x.bool", V.BOOL, None, False),
    "x.string:string=Llama ▁ \"édité\" [x]": ("x.string", V.STRING, None, 'Llama ▁ "édité" [x]'),
    "x.ints:array[i32]=[1, -2, 3]": ("x.ints", V.ARRAY, V.INT32, [1, -2, 3]),
    f"x.u64s:array[u64]=[0, {U64_MAX}]": ("x.u64s", V.ARRAY, V.UINT64, [0, U64_MAX]),
    "x.floats:array[f32]=[0.5, -1e30, 3]": ("x.floats", V.ARRAY, V.FLOAT32, [0.5, -1e30, 3.0]),
    "x.f64s:array[f64]=[0.1]": ("x.f64s", V.ARRAY, V.FLOAT64, [0.1]),
    "x.bools:array[bool]=[true, false]": ("x.bools", V.ARRAY, V.BOOL, [True, False]),
    'x.strings:array[string]=["a", "", "é\\n", "<|eot_id|>"]': ("x.strings", V.ARRAY, V.STRING, ["a", "", "é\n", "<|eot_id|>"]),
    "x.empty:array[u8]=[]": ("x.empty", V.ARRAY, V.UINT8, []),
    "llama.context_length=4096": ("llama.context_length", V.UINT32, None, 4096),
    "general.name=édité": ("general.name", V.STRING, None, "édité"),
    "tokenizer.ggml.add_bos_token=false": ("tokenizer.ggml.add_bos_token", V.BOOL, None, False),
    "tokenizer.ggml.eot_token_id:i32=456": ("tokenizer.ggml.eot_token_id", V.INT32, None, 456),
}


def fields(reader):
    """key -> (type, element type or None, value)."""
    out = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        # parts: key length, key, value type, then (arrays) the element type.
        element = V(int(field.parts[3][0])) if field.types[0] == V.ARRAY else None
        out[name] = (field.types[0], element, field.contents())
    return out


def tensors(reader):
    return {t.name: bytes(t.data.reshape(-1).view("uint8")) for t in reader.tensors}


def data_section(path, reader):
    with open(path, "rb") as f:
        return f.read()[reader.data_offset:]


def check(label, path, original_path, expected, removed, problems, same_layout=True):
    before, after = GGUFReader(original_path), GGUFReader(path)
    old, new = fields(before), fields(after)
    for key, (vtype, element, value) in expected.items():
        if key not in new:
            problems.append(f"{label}: {key} missing")
            continue
        got_type, got_element, got = new[key]
        if (got_type, got_element) != (vtype, element):
            problems.append(f"{label}: {key} is {got_type.name}[{got_element}], expected {vtype.name}[{element}]")
        elif not equal(got, value, vtype, element):
            problems.append(f"{label}: {key} = {got!r}, expected {value!r}")
    for key in removed:
        if key in new:
            problems.append(f"{label}: {key} was not removed")
    for key, entry in old.items():
        if key not in expected and key not in removed and new.get(key) != entry:
            problems.append(f"{label}: {key} changed though not edited")
    if tensors(before) != tensors(after):
        problems.append(f"{label}: tensor bytes differ")
    if same_layout and data_section(original_path, before) != data_section(path, after):
        problems.append(f"{label}: the data section differs")
    return len(expected), len(removed), len(after.tensors), after.data_offset, before.data_offset, after.alignment


def equal(got, value, vtype, element):
    """Floats as the file holds them: an f32 is compared after rounding the expected value."""
    kind = element if vtype == V.ARRAY else vtype
    if kind == V.FLOAT32:
        values = value if isinstance(value, list) else [value]
        gots = got if isinstance(got, list) else [got]
        return len(values) == len(gots) and all(float(np.float32(v)) == g for v, g in zip(values, gots))
    return got == value


def run(binary, *arguments):
    result = subprocess.run([binary, *arguments], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"llamakit {' '.join(arguments)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "llamakit"))
    problems = []
    work = tempfile.mkdtemp(prefix="llamakit-edit-interop-")
    try:
        base = os.path.join(work, "demo-q8_0.gguf")
        run(binary, "convert", "fixtures/demo", "-o", base, "--type", "q8_0", "--no-sync")
        original = os.path.join(work, "original.gguf")
        shutil.copyfile(base, original)

        # 1. Into a new file: every type, arrays, changed keys, a removal, a template by name.
        edited = os.path.join(work, "edited.gguf")
        arguments = ["edit", base, "-o", edited, "--remove", "general.type", "--chat-template", "llama3", "--no-sync"]
        for argument in NEW_KEYS:
            arguments += ["--set", argument]
        run(binary, *arguments)
        expected = {key: (t, e, v) for key, t, e, v in NEW_KEYS.values()}
        template = fields(GGUFReader(edited)).get("tokenizer.chat_template", (None, None, ""))[2]
        if not ("<|start_header_id|>" in template and "<|eot_id|>" in template and "add_generation_prompt" in template):
            problems.append("-o: tokenizer.chat_template is not Meta's Llama 3 template")
        expected["tokenizer.chat_template"] = (V.STRING, None, template)
        summary = [("-o OUT", check("-o", edited, original, expected, ["general.type"], problems))]
        if open(base, "rb").read() != open(original, "rb").read():
            problems.append("-o: the input changed")

        # 2. In place: a chat template from a UTF-8 file, a removal.
        text = "{{ bos_token }}{% for m in messages %}« {{ m['role'] }} »\n{{ m['content'] }}{% endfor %}"
        with open(os.path.join(work, "t.jinja"), "w", encoding="utf-8") as f:
            f.write(text)
        run(binary, "edit", base, "--chat-template", os.path.join(work, "t.jinja"), "--remove", "general.quantization_version",
            "--set", "general.name=in place")
        expected = {"tokenizer.chat_template": (V.STRING, None, text), "general.name": (V.STRING, None, "in place")}
        summary.append(("in place", check("in place", base, original, expected, ["general.quantization_version"], problems)))
        if sorted(os.listdir(work)) != ["demo-q8_0.gguf", "edited.gguf", "original.gguf", "t.jinja"]:
            problems.append(f"in place: files left behind: {sorted(os.listdir(work))}")

        # 3. In place, general.alignment forced to 64: tensors laid out again, bytes unchanged.
        forced = os.path.join(work, "forced.gguf")
        shutil.copyfile(original, forced)
        run(binary, "edit", forced, "--set", "general.alignment=64", "--force")
        expected = {"general.alignment": (V.UINT32, None, 64)}
        summary.append(("--force alignment", check("alignment", forced, original, expected, [], problems, same_layout=False)))
        if GGUFReader(forced).alignment != 64 or any(t.data_offset % 64 for t in GGUFReader(forced).tensors):
            problems.append("alignment: tensors not at multiples of 64")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for label, (keys, removed, count, offset, old_offset, alignment) in summary:
        print(f"{label:18} {keys:2} keys checked (value and type), {removed} removed, {count} tensors compared byte for byte; "
              f"data section at {offset} (was {old_offset}), alignment {alignment}")
    if problems:
        print(f"{len(problems)} problems:")
        for problem in problems:
            print("  " + problem)
        return 1
    print("gguf-py reads every edited file with the new values and types, tensors unchanged: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
