#!/usr/bin/env python3
"""Parity on configs nobody wrote a fixture for: draws random Hugging Face configs per family,
builds a seeded random HF checkpoint for each (random storage dtype fp32/fp16/bf16 written by
save_pretrained) and compares `kiln run` tokens with HF `generate` (fp32 eager, each prompt alone)
exactly. Random prompts of ragged lengths go through kiln as ONE packed call (several --input_ids),
so batching is exercised. A divergence counts as a mismatch only where HF's own decision there was
clear (a near-tie is reported, not counted):

* greedy: HF's top-1/top-2 relative margin (of the processed scores) at the diverging step is at
  least --min_margin;
* beam search: the smallest relative gap between two scores HF's beam bookkeeping compared
  (make_fixtures.beam_reference replayed on HF's own processed step scores) is at least
  --min_beam_gap. Returned hypotheses to which HF gives its -1e9 sentinel score (fewer finite
  candidates than num_return_sequences, e.g. a forced token at max_new_tokens 1: HF fills them
  from its never-live beams, kiln returns them empty) are left out of the comparison and counted.

Decoder-only families (llama with every rope scaling, opt, gpt_bigcode, gpt2): sizes, head
layouts, activations, norms, biases, rope scalings, tying; greedy.

Encoder-decoder families (t5, mt5, umt5, bart, mbart, marian): the ids are the encoder input
(random non-special ids, usually ending with EOS); per config one packed greedy call and one packed
beam call (num_beams 2-5, random length_penalty, early_stopping true/false/"never",
num_return_sequences <= num_beams), sometimes with a --max_batch_size that makes the scheduler
queue requests. Random config options: T5 feed_forward_proj (gated or not, any activation), d_kv,
heads, buckets / max_distance, num_decoder_layers <= num_layers (transformers 5.24's generate cannot
run a deeper decoder), tied / untied lm_head, 4.x spellings of config.json, scale_decoder_outputs;
BART / mBART / Marian: layers / heads / ffn per stack, activation, scale_embedding, tying,
final_logits_bias, max_position_embeddings down to max(longest prompt, tokens generated), Marian
share_encoder_decoder_embeddings / decoder_vocab_size. Random generation options, some written
to generation_config.json (kiln must read them) and some passed as flags / generate kwargs
(overriding it): max_new_tokens or max_length, EOS chosen from the model's own output (so prompts
stop early) or a list of two, no_repeat_ngram_size, encoder_no_repeat_ngram_size, bad_words_ids
(one- and two-token), forced_bos_token_id (or -1 to drop the model's), forced_eos_token_id,
min_length, min_new_tokens, repetition_penalty, suppress_tokens, begin_suppress_tokens,
decoder_start_token_id, beam settings from generation_config.json. Weights follow
tools/make_encdec_fixtures.py's init so outputs are not degenerate.

Usage: python3 tools/fuzz_parity.py [--kiln build/kiln]
           [--families llama,opt,gpt_bigcode,gpt2,t5,mt5,umt5,bart,mbart,marian | all]
           [--configs 20] [--seed 0] [--device cpu|cuda] [--dtype float32] [--verbose]
Default families: the decoder-only ones. Exit status 1 when any counted mismatch (or kiln
failure) occurs. Needs torch + transformers (not run in CI).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (GPT2Config, GPT2LMHeadModel, GPTBigCodeConfig, GPTBigCodeForCausalLM,
                          LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_encdec_fixtures as MEF  # noqa: E402  (init recipes of the encoder-decoder fixtures)
import make_fixtures as MF  # noqa: E402  (rel_margin, beam_reference)

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


class Tally:
    def __init__(self, min_margin, min_beam_gap):
        self.min_margin, self.min_beam_gap = min_margin, min_beam_gap
        self.configs = self.sequences = self.beam_sequences = 0
        self.mismatches = self.near_ties = self.failures = self.skipped = self.unreal = 0
        self.early_eos = self.degenerate = 0  # HF greedy outputs (how much the draws exercise)

    def summary(self) -> str:
        return (f"{self.configs} configs, {self.sequences} greedy + {self.beam_sequences} beam "
                f"sequences, {self.mismatches} mismatches, {self.failures} kiln failures, "
                f"{self.near_ties} near-ties (HF margin < {self.min_margin}, beam gap < "
                f"{self.min_beam_gap}), {self.unreal} beam results differing only in HF's "
                f"sentinel-score (-1e9) hypotheses, {self.skipped} configs HF refused"
                + (f"; HF greedy outputs: {self.early_eos} stopped on EOS, {self.degenerate} "
                   f"degenerate (one token repeated)" if self.early_eos or self.degenerate else ""))


def run_kiln(kiln, args, out_json):
    proc = subprocess.run([kiln, "run", *args, "--output_json", out_json], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout).strip()[-2000:]
    return json.load(open(out_json)), None


def fuzz_decoder_only(family, k, a, t: Tally):
    r = random.Random(f"{a.seed}-{family}-{k}")
    cfg, cls = FAMILIES[family](r)
    torch.manual_seed(r.randint(0, 2**31))
    model = cls(cfg).eval()
    model.config._attn_implementation = "eager"
    store = r.choice([torch.float32, torch.float32, torch.float16, torch.bfloat16])
    t.configs += 1
    with tempfile.TemporaryDirectory() as d:
        model.to(store).save_pretrained(d)
        model = cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        prompts = [[r.randrange(cfg.vocab_size) for _ in range(r.randint(1, 20))]
                   for _ in range(a.prompts)]
        args = ["--model_dir", d, "--max_new_tokens", str(a.max_new), "--device", a.device,
                "--dtype", a.dtype, *a.kiln_args.split()]
        for p in prompts:
            args += ["--input_ids", ",".join(map(str, p))]
        out, err = run_kiln(a.kiln, args, f"{d}/out.json")
        if out is None:
            print(f"{family}#{k}: kiln failed: {err}\n  config: {cfg.to_json_string()}")
            t.failures += 1
            return
        got = out["output_ids"]
        for i, p in enumerate(prompts):
            t.sequences += 1
            want, margins = hf_greedy(model, p, a.max_new)
            if cfg.eos_token_id is not None and cfg.eos_token_id in want:
                want = want[: want.index(cfg.eos_token_id) + 1]
            if got[i] == want:
                continue
            step = next((j for j, (x, y) in enumerate(zip(got[i], want)) if x != y),
                        min(len(got[i]), len(want)))
            m = margins[step] if step < len(margins) else 1.0
            tag = "near-tie" if m < a.min_margin else "MISMATCH"
            t.mismatches += tag == "MISMATCH"
            t.near_ties += tag == "near-tie"
            print(f"{family}#{k} prompt {i}: {tag} at step {step} (HF margin {m:.2e})\n"
                  f"  kiln {got[i]}\n  hf   {want}\n  config: {cfg.to_json_string(use_diff=True)}")


# ---------------------------------------------------------------------------------------------
# Encoder-decoder families
# ---------------------------------------------------------------------------------------------
T5_PROJ = ["relu", "gated-gelu", "gated-silu", "gated-relu", "gelu", "silu", "gelu_new",
           "gated-gelu_new", "gated-gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "tanh"]
ENCDEC_ACTS = ["gelu", "relu", "silu", "swish", "gelu_new", "gelu_pytorch_tanh", "quick_gelu",
               "tanh", "gelu_fast"]


def rand_t5(r: random.Random) -> dict:
    heads = r.choice([1, 2, 3, 4])
    nb = r.choice([4, 6, 8, 16, 32])
    layers = r.randint(1, 3)
    tie = r.random() < 0.5
    cfg = dict(vocab_size=r.choice([64, 97, 128, 160]), d_model=r.choice([16, 24, 32]),
               d_kv=r.choice([4, 6, 8, 10]), d_ff=r.choice([16, 40, 64]), num_layers=layers,
               num_decoder_layers=r.randint(1, layers), num_heads=heads,
               relative_attention_num_buckets=nb,
               relative_attention_max_distance=r.randint(nb // 2 + 1, 40),
               layer_norm_epsilon=r.choice([1e-6, 1e-3]), feed_forward_proj=r.choice(T5_PROJ),
               decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
               tie_word_embeddings=tie)
    return dict(config=cfg, untie_lm_head=r.random() < 0.5,
                legacy=r.choice([None, None, "t5_tied", "t5_untied"]),
                scale_decoder_outputs=r.choice([None, None, True, False]))


def rand_bart(r: random.Random, family: str) -> dict:
    d_model = r.choice([16, 24, 32])
    divisors = [h for h in (1, 2, 4, 8) if d_model % h == 0]
    cfg = dict(vocab_size=r.choice([64, 97, 128]), d_model=d_model,
               encoder_layers=r.randint(1, 3), decoder_layers=r.randint(1, 3),
               encoder_ffn_dim=r.choice([16, 40, 64]), decoder_ffn_dim=r.choice([16, 40, 64]),
               encoder_attention_heads=r.choice(divisors),
               decoder_attention_heads=r.choice(divisors),
               activation_function=r.choice(ENCDEC_ACTS), scale_embedding=r.random() < 0.5,
               tie_word_embeddings=r.random() < 0.6)
    if family == "marian":
        v = cfg["vocab_size"]
        share = r.random() < 0.6
        dv = v if share else r.choice([v, v - 17, v - 40])
        cfg.update(share_encoder_decoder_embeddings=share, decoder_vocab_size=dv,
                   pad_token_id=dv - 1, decoder_start_token_id=dv - 1, eos_token_id=0,
                   forced_eos_token_id=0, bos_token_id=None)
    elif family == "mbart":
        cfg.update(decoder_start_token_id=2)
    return dict(config=cfg, final_logits_bias=r.random() < 0.6,
                bad_pad=family == "marian" and r.random() < 0.7)


def _encdec_families():
    from transformers import (BartConfig, BartForConditionalGeneration, MarianConfig,
                              MarianMTModel, MBartConfig, MBartForConditionalGeneration,
                              MT5Config, MT5ForConditionalGeneration, T5Config,
                              T5ForConditionalGeneration, UMT5Config, UMT5ForConditionalGeneration)
    return {
        "t5": (T5Config, T5ForConditionalGeneration, "t5"),
        "mt5": (MT5Config, MT5ForConditionalGeneration, "t5"),
        "umt5": (UMT5Config, UMT5ForConditionalGeneration, "t5"),
        "bart": (BartConfig, BartForConditionalGeneration, "bart"),
        "mbart": (MBartConfig, MBartForConditionalGeneration, "bart"),
        "marian": (MarianConfig, MarianMTModel, "bart"),
    }


ENCDEC = ["t5", "mt5", "umt5", "bart", "mbart", "marian"]


def _kiln_flags(flags: dict) -> list[str]:
    out = []
    for k, v in flags.items():
        if k == "forced_bos_token_id" and v is None:
            out += ["--forced_bos_token_id", "-1"]
        elif k == "forced_eos_token_id":
            for e in (v if isinstance(v, list) else [v]):
                out += ["--forced_eos_token_id", str(e)]
        elif k == "early_stopping":
            out += ["--early_stopping", str(v).lower()]
        else:
            out += [f"--{k}", str(v)]
    return out


@torch.no_grad()
def hf_encdec(model, prompt, kw, beams: bool):
    """HF generate for one prompt: greedy -> (ids, per-step margins); beams -> (hypotheses,
    min beam gap of make_fixtures.beam_reference, note)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         return_dict_in_generate=True, output_scores=True, **kw)
    if not beams:
        return out.sequences[0, 1:].tolist(), [MF.rel_margin(s[0]) for s in out.scores], None
    lens = (out.beam_indices != -1).sum(dim=1).tolist()
    outs = [out.sequences[i, 1:1 + n].tolist() for i, n in enumerate(lens)]
    scores = out.sequences_scores.tolist()
    g, steps = model.generation_config, [s.float().numpy() for s in out.scores]

    def get(key, default):
        v = kw.get(key, getattr(g, key, None))
        return default if v is None else v
    eos = get("eos_token_id", [])
    eos = list(eos) if isinstance(eos, list) else [eos]
    max_new = kw.get("max_new_tokens", getattr(g, "max_new_tokens", None))
    if max_new is None:
        max_new = get("max_length", 20) - 1
    note = None
    try:
        hyps, _, gap = MF.beam_reference(steps, get("num_beams", 1),
                                         float(get("length_penalty", 1.0)),
                                         get("early_stopping", False),
                                         get("num_return_sequences", 1), eos, max_new)
        if [h[0] for h in hyps] != outs:
            note, gap = "beam_reference disagrees with HF", 0.0
    except Exception as e:  # noqa: BLE001
        note, gap = f"beam_reference failed: {e}", 0.0
    return outs, gap, note, scores


def draw_encdec(family: str, k: int, a):
    """(model, config dict for the report, generation-config dict, greedy flags, beam flags,
    prompts, extra kiln flags) for config k of family, or raises."""
    config_cls, model_cls, kind = _encdec_families()[family]
    r = random.Random(f"{a.seed}-{family}-{k}")
    spec = rand_t5(r) if kind == "t5" else rand_bart(r, family)
    c = dict(spec["config"])
    # prompts first: BART-family max_position_embeddings must hold the longest
    n_prompts = r.randint(2, a.prompts + 2)
    lens = [r.choice([1, r.randint(2, 8), r.randint(2, 30)]) for _ in range(n_prompts)]
    use_max_length = r.random() < 0.15
    max_new = r.randint(1, 16)
    max_length = r.randint(2, 20) if use_max_length else None
    gen_len = (max_length - 1) if use_max_length else max_new
    if kind == "bart":
        # HF runs decoder positions 0 .. gen_len - 1 (the last token is never fed back)
        need = max(max(lens), gen_len)
        c["max_position_embeddings"] = r.choice([need, need + r.randint(1, 20), 64])
    seed = r.randint(0, 2**31)
    torch.manual_seed(seed)
    model = model_cls(config_cls(**c)).eval()
    if kind == "t5":
        if spec["untie_lm_head"]:
            MEF.untie_lm_head(model)
        MEF.init_t5(model)
    else:
        MEF.init_encdec(model)
        if not spec["final_logits_bias"]:
            for name, b in model.named_buffers():
                if name.endswith("final_logits_bias"):
                    b.zero_()
    cfg = model.config
    g = model.generation_config
    specials = {x for x in (cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start_token_id,
                            getattr(cfg, "bos_token_id", None)) if isinstance(x, int)}
    allowed = [t for t in range(cfg.vocab_size) if t not in specials]
    prompts = []
    for n in lens:
        body = [r.choice(allowed) for _ in range(max(n - 1, 1))]
        prompts.append(body if n == 1 or r.random() < 0.2 else body + [cfg.eos_token_id])
    dec_vocab = getattr(cfg, "decoder_vocab_size", None) or cfg.vocab_size

    # EOS from the model's own greedy output, so that prompts stop early
    eos = cfg.eos_token_id
    if r.random() < 0.6:
        probe_len = min(8, c.get("max_position_embeddings", 8))
        probe, _, _ = hf_encdec(model, prompts[0], dict(num_beams=1, max_new_tokens=probe_len,
                                                        eos_token_id=dec_vocab + 7,
                                                        forced_eos_token_id=None,
                                                        forced_bos_token_id=None), False)
        eos = probe[r.randint(1, min(4, len(probe) - 1))] if len(probe) > 1 else eos
        if r.random() < 0.15:
            eos = [eos, r.randrange(dec_vocab)]
        for x in (cfg, g):
            x.eos_token_id = eos
            if getattr(x, "forced_eos_token_id", None) is not None:
                x.forced_eos_token_id = eos if isinstance(eos, int) else eos[0]
    eos_ids = eos if isinstance(eos, list) else [eos]

    def rid():
        return r.randrange(dec_vocab)
    saved = {}  # generation_config.json
    if r.random() < 0.3:
        saved["no_repeat_ngram_size"] = r.choice([2, 3])
    if r.random() < 0.1:
        saved["encoder_no_repeat_ngram_size"] = r.choice([2, 3])
    if spec.get("bad_pad"):
        saved["bad_words_ids"] = [[cfg.pad_token_id]]
    elif r.random() < 0.2:
        saved["bad_words_ids"] = [[rid()]] + ([[rid(), rid()]] if r.random() < 0.5 else [])
    if r.random() < 0.25:
        saved["forced_bos_token_id"] = rid()
    if r.random() < 0.25:
        saved["forced_eos_token_id"] = r.choice([eos_ids[0], rid()])
    if r.random() < 0.2:
        saved["min_length"] = r.randint(2, 8)
    if r.random() < 0.1:
        saved["min_new_tokens"] = r.randint(1, 6)
    if r.random() < 0.15:
        saved["repetition_penalty"] = r.choice([1.2, 0.8, 1.5])
    if r.random() < 0.1:
        saved["suppress_tokens"] = [rid() for _ in range(r.randint(1, 3))]
    if r.random() < 0.1:
        saved["begin_suppress_tokens"] = [rid() for _ in range(r.randint(1, 2))]
    if use_max_length:
        saved["max_length"] = max_length
    beam_defaults = r.random() < 0.2
    num_beams = r.randint(2, 5)
    beam = dict(num_beams=num_beams, length_penalty=r.choice([1.0, 0.6, 1.5, 2.0, -0.5]),
                early_stopping=r.choice([False, True, "never"]),
                num_return_sequences=r.randint(1, num_beams))
    if beam_defaults:
        saved.update(beam)
    for key, v in saved.items():
        setattr(g, key, v)

    flags = {}  # both HF kwargs and kiln flags, on top of generation_config.json
    if not use_max_length:
        flags["max_new_tokens"] = max_new
    if r.random() < 0.2:
        flags["repetition_penalty"] = r.choice([1.3, 0.7, 2.0])
    if r.random() < 0.2:
        flags["no_repeat_ngram_size"] = r.choice([0, 2, 3, 4])
    if r.random() < 0.15:
        flags["min_length"] = r.randint(0, 9)
    if r.random() < 0.1:
        flags["min_new_tokens"] = r.randint(0, 5)
    if r.random() < 0.15:
        fb = getattr(g, "forced_bos_token_id", None)
        flags["forced_bos_token_id"] = None if fb is not None and r.random() < 0.5 else rid()
    if r.random() < 0.1:
        flags["forced_eos_token_id"] = rid()
    if r.random() < 0.1:
        flags["decoder_start_token_id"] = rid()
    greedy_flags = dict(flags, num_beams=1)
    if beam_defaults and beam["num_return_sequences"] > 1:
        greedy_flags["num_return_sequences"] = 1
    beam_flags = dict(flags) if beam_defaults else dict(flags, **beam)
    resolved_beams = beam_flags.get("num_beams", saved.get("num_beams", 1))
    extra = []
    if r.random() < 0.3:  # queue requests: fewer sequences per step than the packed call has
        extra = ["--max_batch_size", str(r.randint(resolved_beams,
                                                    max(resolved_beams, 2 * resolved_beams)))]
    store = r.choice(["float32", "float32", "float16", "bfloat16"])
    desc = dict(family=family, config=c, seed=seed, storage=store,
                **{x: spec[x] for x in ("untie_lm_head", "legacy", "scale_decoder_outputs",
                                        "final_logits_bias") if x in spec},
                generation_config=saved, eos=eos)
    return model, model_cls, spec, desc, greedy_flags, beam_flags, prompts, extra, store


def t5_rewrite(spec, folder):
    """4.x spellings (make_encdec_fixtures.t5_post_save) and an explicit scale_decoder_outputs."""
    if spec.get("legacy"):
        MEF.t5_post_save(spec, Path(folder))
    if spec.get("scale_decoder_outputs") is not None:
        p = Path(folder) / "config.json"
        j = json.loads(p.read_text())
        j["scale_decoder_outputs"] = spec["scale_decoder_outputs"]
        p.write_text(json.dumps(j, indent=2, sort_keys=True) + "\n")


def fuzz_encdec(family, k, a, t: Tally):
    try:
        model, model_cls, spec, desc, gflags, bflags, prompts, extra, store = draw_encdec(family, k, a)
    except Exception as e:  # noqa: BLE001
        print(f"{family}#{k}: HF refused the draw ({type(e).__name__}: {e})")
        t.skipped += 1
        return
    with tempfile.TemporaryDirectory() as d:
        try:
            model.to(MF.DTYPES[store]).save_pretrained(d)
            if "t5" in family:
                t5_rewrite(spec, d)
            m = model_cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
            refs_g = [hf_encdec(m, p, dict(gflags), False) for p in prompts]
            refs_b = [hf_encdec(m, p, dict(bflags), True) for p in prompts]
        except Exception as e:  # noqa: BLE001
            print(f"{family}#{k}: HF refused ({type(e).__name__}: {str(e)[:300]})")
            t.skipped += 1
            return
        t.configs += 1
        base = ["--model_dir", d, "--device", a.device, "--dtype", a.dtype, *extra,
                *a.kiln_args.split()]
        for p in prompts:
            base += ["--input_ids", ",".join(map(str, p))]
        head = f"{family}#{k}"
        eos_ids = desc["eos"] if isinstance(desc["eos"], list) else [desc["eos"]]
        max_new = gflags.get("max_new_tokens") or desc["generation_config"].get("max_length", 20) - 1
        report = (f"  config: {json.dumps(desc)}\n  prompts: {prompts}\n"
                  f"  extra kiln flags: {extra}")
        for mode, flags, refs in (("greedy", gflags, refs_g), ("beam", bflags, refs_b)):
            out, err = run_kiln(a.kiln, base + _kiln_flags(flags), f"{d}/{mode}.json")
            if out is None:
                t.failures += 1
                print(f"{head} {mode}: kiln failed: {err}\n  flags: {flags}\n{report}")
                continue
            for i, (p, ref) in enumerate(zip(prompts, refs)):
                if mode == "greedy":
                    t.sequences += 1
                    want, margins, _ = ref
                    got = out["output_ids"][i]
                    stopped = bool(want) and want[-1] in eos_ids and len(want) < max_new
                    t.early_eos += stopped
                    t.degenerate += MF.degenerate(want, stopped)
                    if got == want:
                        continue
                    step = next((j for j, (x, y) in enumerate(zip(got, want)) if x != y),
                                min(len(got), len(want)))
                    m = margins[step] if step < len(margins) else 1.0
                    tag = "near-tie" if m < a.min_margin else "MISMATCH"
                    what = f"at step {step} (HF margin {m:.2e})"
                else:
                    t.beam_sequences += 1
                    want, gap, note, scores = ref
                    got = out["sequences"][i]
                    if got == want:
                        continue
                    # hypotheses HF returns with a sentinel score (fewer finite candidates than
                    # num_return_sequences, e.g. a forced token at max_new_tokens 1): HF pads
                    # with whatever its -1e9 beams hold; compare only the real ones
                    real = [j for j, sc in enumerate(scores) if sc > -1e8]
                    if len(real) < len(want) and len(got) == len(want) and \
                            [got[j] for j in real] == [want[j] for j in real]:
                        t.unreal += 1
                        if a.verbose:
                            print(f"{head} beam prompt {i}: only HF's sentinel-score hypotheses "
                                  f"differ\n  kiln {got}\n  hf   {want}\n  scores {scores}")
                        continue
                    tag = "near-tie" if gap < a.min_beam_gap and not note else "MISMATCH"
                    what = f"(HF beam gap {gap:.2e}{'; ' + note if note else ''})"
                t.mismatches += tag == "MISMATCH"
                t.near_ties += tag == "near-tie"
                print(f"{head} {mode} prompt {i}: {tag} {what}\n  kiln {got}\n  hf   {want}\n"
                      f"  flags: {flags}\n{report}")
        if a.verbose:
            print(f"{head}: HF greedy {[r[0] for r in refs_g]}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--family", "--families", nargs="+", default=list(FAMILIES),
                    help="names, space- or comma-separated, or all: " + ", ".join([*FAMILIES, *ENCDEC]))
    ap.add_argument("--configs", type=int, default=20, help="per family")
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--max_new", type=int, default=12, help="decoder-only families")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--min_margin", type=float, default=1e-4)
    ap.add_argument("--min_beam_gap", type=float, default=1e-5)
    ap.add_argument("--only", type=int, nargs="*", help="only these config indices")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--kiln_args", default="", help="extra kiln run flags, e.g. '--max_gpu_memory 2'")
    a = ap.parse_args()
    families = [f for x in a.family for f in x.split(",") if f]
    families = [g for f in families for g in ([*FAMILIES, *ENCDEC] if f == "all" else [f])]
    unknown = [f for f in families if f not in FAMILIES and f not in ENCDEC]
    if unknown:
        ap.error(f"unknown families {unknown}")
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", category=UserWarning)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    t = Tally(a.min_margin, a.min_beam_gap)
    for family in families:
        for k in (a.only if a.only is not None else range(a.configs)):
            (fuzz_encdec if family in ENCDEC else fuzz_decoder_only)(family, k, a, t)
        print(f"{family}: done; so far {t.summary()}", flush=True)
    print(t.summary())
    sys.exit(1 if t.mismatches or t.failures else 0)


if __name__ == "__main__":
    main()
