#!/usr/bin/env python3
"""Parity on configs nobody wrote a fixture for: draws random Hugging Face configs per family
(sizes, head layouts, activations, norms, biases, rope scalings, tying, storage dtype), builds a
seeded random HF checkpoint for each, and compares `kiln run` greedy tokens with HF
`generate` (fp32 eager) on random prompts, each prompt alone. A mismatch counts only where HF's own
top-1/top-2 logit margin at the diverging step exceeds --min_margin (a near-tie is reported, not
counted).

Usage: python3 tools/fuzz_parity.py [--kiln build/kiln] [--family llama opt gpt_bigcode gpt2]
                                    [--configs 20] [--seed 0] [--device cpu|cuda] [--dtype float32]
Exit status 1 when any counted mismatch occurs. Needs torch + transformers (not run in CI).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (GPT2Config, GPT2LMHeadModel, GPTBigCodeConfig, GPTBigCodeForCausalLM,
                          LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM)

ACTS = ["gelu_new", "gelu", "relu", "silu", "gelu_pytorch_tanh", "quick_gelu", "tanh", "gelu_fast"]


def rand_llama(r: random.Random):
    kv = r.choice([1, 2, 4])
    heads = kv * r.choice([1, 2, 3])
    head_dim = r.choice([8, 16])
    cfg = dict(vocab_size=r.choice([64, 97, 128]), num_hidden_layers=r.randint(1, 3),
               num_attention_heads=heads, num_key_value_heads=kv,
               hidden_size=heads * (head_dim if r.random() < 0.7 else r.choice([4, 12])),
               intermediate_size=r.choice([24, 48, 70]), hidden_act=r.choice(["silu", "gelu_new", "relu"]),
               rms_norm_eps=r.choice([1e-6, 1e-5, 1e-3]), rope_theta=r.choice([10000.0, 500000.0, 77.0]),
               tie_word_embeddings=r.random() < 0.5, attention_bias=r.random() < 0.3,
               mlp_bias=r.random() < 0.3, max_position_embeddings=64)
    if cfg["hidden_size"] != heads * head_dim:
        cfg["head_dim"] = head_dim
    scaling = r.choice([None, "linear", "llama3", "yarn", "dynamic"])
    if scaling == "linear":
        cfg["rope_scaling"] = {"rope_type": "linear", "factor": r.choice([2.0, 4.0])}
    elif scaling == "llama3":
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    elif scaling == "dynamic":  # NTK: recomputed once a sequence passes max_position_embeddings
        cfg["max_position_embeddings"] = 16
        cfg["rope_scaling"] = {"rope_type": "dynamic", "factor": 2.0}
    elif scaling == "yarn":
        cfg["rope_scaling"] = {"rope_type": "yarn", "factor": r.choice([2.0, 4.0]),
                               "original_max_position_embeddings": 16}
    return LlamaConfig(**cfg), LlamaForCausalLM


def rand_opt(r: random.Random):
    heads = r.choice([1, 2, 4])
    hidden = heads * r.choice([4, 8])
    pre = r.random() < 0.6
    cfg = dict(vocab_size=r.choice([64, 100]), hidden_size=hidden, num_hidden_layers=r.randint(1, 3),
               num_attention_heads=heads, ffn_dim=r.choice([16, 40, 64]), max_position_embeddings=64,
               do_layer_norm_before=pre, activation_function=r.choice(["relu", "gelu", "silu"]),
               enable_bias=r.random() < 0.7, layer_norm_elementwise_affine=r.random() < 0.8,
               word_embed_proj_dim=hidden if r.random() < 0.6 else r.choice([8, 12]),
               pad_token_id=1, bos_token_id=2, eos_token_id=2)
    return OPTConfig(**cfg), OPTForCausalLM


def rand_bigcode(r: random.Random):
    heads = r.choice([1, 2, 4])
    cfg = dict(vocab_size=r.choice([64, 100]), n_positions=64, n_embd=heads * r.choice([4, 8]),
               n_layer=r.randint(1, 3), n_head=heads, multi_query=r.random() < 0.6,
               n_inner=r.choice([None, 24, 50]), activation_function=r.choice(ACTS),
               layer_norm_epsilon=r.choice([1e-5, 1e-3]), scale_attn_weights=r.random() < 0.8,
               tie_word_embeddings=r.random() < 0.5, bos_token_id=0, eos_token_id=0)
    return GPTBigCodeConfig(**cfg), GPTBigCodeForCausalLM


def rand_gpt2(r: random.Random):
    heads = r.choice([1, 2, 3, 4])
    cfg = dict(vocab_size=r.choice([64, 100]), n_positions=64, n_embd=heads * r.choice([4, 5, 8]),
               n_layer=r.randint(1, 3), n_head=heads, n_inner=r.choice([None, 30]),
               activation_function=r.choice(ACTS), layer_norm_epsilon=r.choice([1e-5, 1e-3]),
               scale_attn_weights=r.random() < 0.8,
               scale_attn_by_inverse_layer_idx=r.random() < 0.3,
               reorder_and_upcast_attn=r.random() < 0.3, tie_word_embeddings=r.random() < 0.5,
               bos_token_id=0, eos_token_id=0)
    return GPT2Config(**cfg), GPT2LMHeadModel


FAMILIES = {"llama": rand_llama, "opt": rand_opt, "gpt_bigcode": rand_bigcode, "gpt2": rand_gpt2}


def hf_greedy(model, prompt, max_new):
    """Greedy ids and per-step relative top-2 margins (HF's own decision confidence)."""
    ids = torch.tensor([prompt])
    out, margins = [], []
    with torch.no_grad():
        for _ in range(max_new):
            logits = model(ids).logits[0, -1].float()
            top = torch.topk(logits, 2).values
            margins.append(float((top[0] - top[1]) / max(1.0, float(top[0].abs()))))
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--family", nargs="+", default=list(FAMILIES))
    ap.add_argument("--configs", type=int, default=20)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--max_new", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--min_margin", type=float, default=1e-4)
    ap.add_argument("--kiln_args", default="", help="extra kiln run flags, e.g. '--max_gpu_memory 2'")
    a = ap.parse_args()
    torch.set_num_threads(2)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    counted, near_ties, total = 0, 0, 0
    for family in a.family:
        for k in range(a.configs):
            r = random.Random(f"{a.seed}-{family}-{k}")
            cfg, cls = FAMILIES[family](r)
            torch.manual_seed(r.randint(0, 2**31))
            model = cls(cfg).eval()
            model.config._attn_implementation = "eager"
            store = r.choice([torch.float32, torch.float32, torch.float16, torch.bfloat16])
            with tempfile.TemporaryDirectory() as d:
                model.to(store).save_pretrained(d)
                model = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
                prompts = [[r.randrange(cfg.vocab_size) for _ in range(r.randint(1, 20))]
                           for _ in range(a.prompts)]
                cmd = [a.kiln, "run", "--model_dir", d, "--max_new_tokens", str(a.max_new),
                       "--device", a.device, "--dtype", a.dtype, "--output_json", f"{d}/out.json",
                       *a.kiln_args.split()]
                for p in prompts:
                    cmd += ["--input_ids", ",".join(map(str, p))]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{family}#{k}: kiln failed: {proc.stderr.strip()}\n  config: {cfg.to_json_string()}")
                    counted += 1
                    continue
                got = json.load(open(f"{d}/out.json"))["output_ids"]
                for i, p in enumerate(prompts):
                    total += 1
                    want, margins = hf_greedy(model, p, a.max_new)
                    if cfg.eos_token_id is not None and cfg.eos_token_id in want:
                        want = want[: want.index(cfg.eos_token_id) + 1]
                    if got[i] == want:
                        continue
                    step = next((j for j, (x, y) in enumerate(zip(got[i], want)) if x != y),
                                min(len(got[i]), len(want)))
                    m = margins[step] if step < len(margins) else 1.0
                    tag = "near-tie" if m < a.min_margin else "MISMATCH"
                    counted += tag == "MISMATCH"
                    near_ties += tag == "near-tie"
                    print(f"{family}#{k} prompt {i}: {tag} at step {step} (HF margin {m:.2e})\n"
                          f"  kiln {got[i]}\n  hf   {want}\n  config: {cfg.to_json_string(use_diff=True)}")
        print(f"{family}: {a.configs} configs done", flush=True)
    print(f"{total} sequences, {counted} mismatches, {near_ties} near-ties (HF margin < {a.min_margin})")
    sys.exit(1 if counted else 0)


if __name__ == "__main__":
    main()
