#!/usr/bin/env python3
"""Hugging Face side of `kiln eval --compare_hf`: generate with transformers for the exact input
ids kiln used, with the same settings, and write the outputs as JSON. kiln then scores both sides
with the same (C++) metric code.

    python3 tools/eval_hf.py --request request.json --output outputs.json

request.json (written by kiln):
    {"model_dir": str, "tokenizer_dir": str, "device": "cpu" | "cuda" | "cuda:N",
     "dtype": "float16" | "bfloat16" | "float32", "seed": int,
     "generation": {HF generate() kwargs: max_new_tokens, num_beams, ...},
     "inputs": [[token ids], ...]}   # encoder inputs (encoder-decoder) or prompts (decoder-only)
outputs.json:
    {"transformers_version": str,
     "outputs": [{"ids": [generated ids, without the prompt / decoder start token],
                  "text": decode(ids, skip_special_tokens=True) or null without a tokenizer}]}

Exit codes: 0 ok, 3 transformers / torch not importable, 1 anything else.
Samples run one at a time (no padding), so each matches HF generate() on that input alone.
"""
from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--request", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    try:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
    except Exception as e:  # noqa: BLE001 - any import failure means "no HF here"
        print(f"eval_hf.py: cannot import transformers / torch: {e}", file=sys.stderr)
        return 3

    with open(args.request) as f:
        req = json.load(f)
    device = req.get("device", "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("eval_hf.py: CUDA not available to torch; running HF on the CPU", file=sys.stderr)
        device = "cpu"
    # The CPU computes in float32 (as kiln's CPU backend); the GPU in kiln's --dtype.
    dtype = torch.float32 if device == "cpu" else getattr(torch, req.get("dtype", "float16"))

    config = AutoConfig.from_pretrained(req["model_dir"])
    cls = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    model = cls.from_pretrained(req["model_dir"], dtype=dtype).to(device).eval()
    tokenizer = None
    try:
        tokenizer = AutoTokenizer.from_pretrained(req.get("tokenizer_dir") or req["model_dir"])
    except Exception as e:  # noqa: BLE001 - kiln decodes the ids itself then
        print(f"eval_hf.py: no HF tokenizer ({e}); kiln decodes HF's ids", file=sys.stderr)

    gen = dict(req.get("generation", {}))
    seed = int(req.get("seed", 0))
    outputs = []
    for ids in req["inputs"]:
        input_ids = torch.tensor([ids], dtype=torch.long, device=device)
        kwargs = dict(gen)
        kwargs.setdefault("attention_mask", torch.ones_like(input_ids))
        if not model.config.is_encoder_decoder and model.generation_config.pad_token_id is None:
            eos = model.generation_config.eos_token_id
            kwargs["pad_token_id"] = eos[0] if isinstance(eos, list) else eos
        if kwargs.get("do_sample"):
            torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(input_ids, **kwargs)
        seq = out[0].tolist()
        # Encoder-decoder: drop the decoder start token; decoder-only: drop the prompt.
        gen_ids = seq[1:] if model.config.is_encoder_decoder else seq[len(ids):]
        # HF pads finished beams / batch rows; with one sample and no padding nothing trails.
        text = tokenizer.decode(gen_ids, skip_special_tokens=True) if tokenizer is not None else None
        outputs.append({"ids": gen_ids, "text": text})

    with open(args.output, "w") as f:
        json.dump({"transformers_version": transformers.__version__, "outputs": outputs}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
