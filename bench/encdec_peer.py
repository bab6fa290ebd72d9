#!/usr/bin/env python3
"""HF transformers peer for `kiln bench` on encoder–decoder shapes (T5, BART, ...): the same
config, random weights, same GPU, same run.

Times model.generate (min_new_tokens = max_new_tokens so every case, greedy or beam, runs the full
length; eager attention) and first-token latency as generate(max_new_tokens=1). Writes CSV rows:
impl,family,num_beams,batch,input_len,output_len,first_token_ms,total_s,output_tok_per_s.
"""
import argparse
import csv
import json
import sys
import time

import torch
import transformers


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model_type", required=True, help="t5, mt5, umt5, bart, mbart or marian")
    ap.add_argument("--config", default="{}", help="HF config fields as JSON")
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    ap.add_argument("--batch_size", default="1;64")
    ap.add_argument("--input_output_len", default="128,128")
    ap.add_argument("--num_beams", default="1;4")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="encdec_peer.csv")
    ap.add_argument("--device", default="cuda", help="cuda or cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    a = ap.parse_args()
    torch.manual_seed(0)
    dev, dtype = a.device, getattr(torch, a.dtype)
    if a.threads:
        torch.set_num_threads(a.threads)
    name = torch.cuda.get_device_name(0) if dev == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print("device:", name, "torch", torch.__version__, "transformers", transformers.__version__,
          flush=True)
    cfg = transformers.AutoConfig.for_model(a.model_type, **json.loads(a.config))
    torch.set_default_dtype(dtype)
    with torch.device(dev):  # random init directly on the GPU in the target dtype
        model = transformers.AutoModelForSeq2SeqLM.from_config(cfg, attn_implementation="eager")
    torch.set_default_dtype(torch.float32)
    model.eval()
    rows = []
    bs = [int(b) for b in a.batch_size.split(";") if b]
    ios = [tuple(int(x) for x in p.split(",")) for p in a.input_output_len.split(";") if p]
    beams = [int(k) for k in a.num_beams.split(";") if k]
    for k in beams:
        for i, o in ios:
            for b in bs:
                ids = torch.randint(3, cfg.vocab_size, (b, i), device=dev)
                kw = dict(attention_mask=torch.ones_like(ids), do_sample=False, num_beams=k,
                          no_repeat_ngram_size=0, forced_bos_token_id=None,
                          forced_eos_token_id=None, length_penalty=1.0)
                try:
                    with torch.inference_mode():
                        model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kw)  # warm-up
                        ft = timed(lambda: model.generate(ids, max_new_tokens=1, **kw))
                        total = timed(lambda: model.generate(ids, max_new_tokens=o,
                                                             min_new_tokens=o, **kw))
                except Exception as e:  # e.g. out of memory: report, keep going
                    print(f"b={b} beams={k} {i}/{o}: failed: {e}", file=sys.stderr, flush=True)
                    continue
                r = dict(impl="hf_eager", family=a.label or a.model_type, num_beams=k, batch=b,
                         input_len=i, output_len=o, first_token_ms=round(ft * 1e3, 2),
                         total_s=round(total, 3), output_tok_per_s=round(b * o / total, 1))
                print(r, flush=True)
                rows.append(r)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["impl"])
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
