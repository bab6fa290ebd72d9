#!/usr/bin/env python3
"""HF transformers peer for `kiln bench`: the same shapes (GPT-2 or LLaMA family), random weights,
same GPU, same run.

Times model.generate (greedy, min_new_tokens = max_new_tokens so every case runs the full length)
with eager attention and with the static cache + sdpa where available, and first-token latency as
generate(max_new_tokens=1). Writes CSV rows: impl,batch,input_len,output_len,first_token_ms,
total_s,output_tok_per_s.
"""
import argparse
import csv
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM


def parse_cases(batch_sizes: str, io_lens: str):
    bs = [int(b) for b in batch_sizes.split(";") if b]
    ios = [tuple(int(x) for x in p.split(",")) for p in io_lens.split(";") if p]
    return [(b, i, o) for i, o in ios for b in bs]


def timed(fn):
    torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n_layer", type=int, default=48)
    ap.add_argument("--n_embd", type=int, default=1600)
    ap.add_argument("--n_head", type=int, default=25)
    ap.add_argument("--vocab_size", type=int, default=50257)
    ap.add_argument("--n_positions", type=int, default=2304)
    ap.add_argument("--family", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--n_kv_head", type=int, default=8)
    ap.add_argument("--inter_size", type=int, default=14336)
    ap.add_argument("--rope_theta", type=float, default=500000.0)
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    ap.add_argument("--batch_size", default="1;64")
    ap.add_argument("--input_output_len", default="128,128")
    ap.add_argument("--impls", default="eager,static_sdpa")
    ap.add_argument("--out", default="hf_peer.csv")
    a = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda"
    print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    rows = []
    for impl in a.impls.split(","):
        attn = "eager" if impl == "eager" else "sdpa"
        dtype = getattr(torch, a.dtype)
        if a.family == "gpt2":
            cfg = GPT2Config(n_layer=a.n_layer, n_embd=a.n_embd, n_head=a.n_head,
                             vocab_size=a.vocab_size, n_positions=a.n_positions)
            model = GPT2LMHeadModel(cfg).to(dev, dtype).eval()
        else:  # random init directly on the GPU in the target dtype (an 8B model in fp32 on the
            # host would take minutes)
            cfg = LlamaConfig(hidden_size=a.n_embd, intermediate_size=a.inter_size,
                              num_hidden_layers=a.n_layer, num_attention_heads=a.n_head,
                              num_key_value_heads=a.n_kv_head, vocab_size=a.vocab_size,
                              max_position_embeddings=a.n_positions, rope_theta=a.rope_theta)
            torch.set_default_dtype(dtype)
            with torch.device(dev):
                model = LlamaForCausalLM(cfg).eval()
            torch.set_default_dtype(torch.float32)
        model.config._attn_implementation = attn
        for b, i, o in parse_cases(a.batch_size, a.input_output_len):
            ids = torch.randint(0, a.vocab_size, (b, i), device=dev)
            kw = dict(attention_mask=torch.ones_like(ids), do_sample=False, pad_token_id=0)
            if impl.startswith("static"):
                kw["cache_implementation"] = "static"
            try:
                with torch.inference_mode():
                    model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kw)  # warm-up
                    ft = timed(lambda: model.generate(ids, max_new_tokens=1, **kw))
                    total = timed(lambda: model.generate(ids, max_new_tokens=o, min_new_tokens=o, **kw))
            except Exception as e:  # e.g. out of memory: report, keep going
                print(f"{impl} b={b} {i}/{o}: failed: {e}", file=sys.stderr, flush=True)
                continue
            r = dict(impl=f"hf_{impl}", batch=b, input_len=i, output_len=o,
                     first_token_ms=round(ft * 1e3, 2), total_s=round(total, 3),
                     output_tok_per_s=round(b * o / total, 1))
            print(r, flush=True)
            rows.append(r)
        del model
        torch.cuda.empty_cache()
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["impl"])
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
