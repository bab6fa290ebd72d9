#!/usr/bin/env python3
"""Records HF transformers' own 16-bit error in encoder–decoder fixtures, for the GPU parity tests.

For each fixture folder (default: tests/fixtures/{t5,mt5,umt5,bart,mbart,marian}/*) this loads the
checkpoint with transformers in float16 and in bfloat16 (on the CPU), runs the first decoder step
of every case's prompts, and stores the largest relative error against the fp32 golden
first_logits as ``"hf_half_rel_err": {"float16": e16, "bfloat16": ebf16}`` at the top of
expected.json (inserted as text; the rest of the file is unchanged). The GPU test then accepts a
16-bit kiln run whose error is within a small factor of HF's own 16-bit error on the same model:
T5-style stacks (no attention scaling, gated FFNs) amplify rounding far beyond GPT-2's.

Usage: python3 tools/annotate_half_error.py [FIXTURE_DIR ...]
"""
import glob
import json
import sys

import torch
from transformers import AutoModelForSeq2SeqLM

FAMILIES = ("t5", "mt5", "umt5", "bart", "mbart", "marian")


def half_error(folder: str, expected: dict, dtype) -> float:
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, dtype=dtype).eval()
    start = expected["decoder_start_token_id"]
    worst = 0.0
    for case in expected["cases"]:
        for prompt, ref in zip(case["prompts"], case.get("first_logits", [])):
            with torch.no_grad():
                got = model(input_ids=torch.tensor([prompt]),
                            decoder_input_ids=torch.tensor([[start]])).logits[0, -1].float()
            ref = torch.tensor(ref)
            worst = max(worst, ((got - ref).norm() / ref.norm()).item())
    return worst


def main(argv):
    dirs = argv or sorted(d for f in FAMILIES for d in glob.glob(f"tests/fixtures/{f}/*"))
    for d in dirs:
        path = f"{d}/expected.json"
        text = open(path).read()
        expected = json.loads(text)
        errs = {name: round(half_error(d, expected, dt), 6)
                for name, dt in (("float16", torch.float16), ("bfloat16", torch.bfloat16))}
        if "hf_half_rel_err" in expected:
            expected["hf_half_rel_err"] = errs  # rewritten whole only when already annotated
            text = json.dumps(expected, indent=1) + "\n"
        else:
            brace = text.index("{")
            text = text[:brace + 1] + f'"hf_half_rel_err": {json.dumps(errs)}, ' + text[brace + 1:]
            json.loads(text)  # still valid
        open(path, "w").write(text)
        print(d, errs, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
