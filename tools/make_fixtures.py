#!/usr/bin/env python3
"""Generate tiny seeded random Hugging Face checkpoints + golden outputs for kiln parity tests.

Usage:  python3 tools/make_fixtures.py [--out tests/fixtures] [--family gpt2|opt|gpt_bigcode]
                                     [--only NAME ...]
                                     [--tokenizer_dir ../shared/data/tokenizers/gpt2]

For every config below this writes ``<out>/<family>/<name>/`` as an unmodified HF model folder
(``save_pretrained``: config.json, model.safetensors or sharded files + index,
generation_config.json) and ``expected.json``::

    {"config_name": str, "notes": str, "hf_transformers_version": str, "torch_version": str,
     "cases": [{"name": str,
                "prompts": [[ids...], ...],
                "max_new_tokens": int,
                "repetition_penalty": float,          # 1.0 = off
                "outputs": [[generated ids...], ...], # greedy, each prompt run alone (batch 1);
                                                      # ends with the EOS id if it stopped on EOS
                "first_logits": [[float x vocab], ...],  # fp32 logits of the last prompt position
                "min_margin": float,                  # min (top1-top2)/max(|top1|,1) over all steps
                # real-vocab fixture only:
                "prompt_texts": [str, ...], "output_texts": [str, ...],
                # beam cases only (the greedy fields above are filled for them too):
                "num_beams": int, "length_penalty": float,
                "early_stopping": false | true | "never", "num_return_sequences": int,
                "beam_outputs": [[[generated ids...] per returned sequence, best first], ...],
                "beam_scores": [[sequences_scores per returned sequence], ...],
                "beam_steps": [int, ...],             # decoding steps HF ran per prompt
                "beam_min_gap": float}]}              # min gap between compared beam scores

Beam cases (``beam_cases`` of a fixture) are HF ``generate(num_beams=k, do_sample=False,
return_dict_in_generate=True, output_scores=True)`` per prompt (batch 1); the generated length of
each returned sequence comes from its ``beam_indices`` (HF pads shorter ones). They are made after
the fixture's model is accepted, from their own prompt generator, and never reseed the model, so
adding one leaves every other golden byte-identical. Each is replayed by ``beam_reference`` (HF's
bookkeeping re-done on HF's own per-step scores, the algorithm kiln's runtime/sampling/beam_search
implements) and must match HF exactly; prompts are redrawn until every score comparison the
bookkeeping makes has a relative gap >= MIN_BEAM_GAP (and ``want_eos`` cases see an early EOS).

Golden outputs come from ``<Family>ForCausalLM.from_pretrained(dir, dtype=float32,
attn_implementation="eager")`` i.e. from the files as written (16-bit checkpoints are widened to
fp32, as kiln's CPU backend does). Everything is deterministic: fixed seeds per config; a config
whose greedy steps have a top-1/top-2 margin below MIN_REL_MARGIN (or whose outputs are
degenerate) is reseeded (seed + 1000 * attempt) until it passes.

Works with transformers 5.x (tested with 5.23 on CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (GPT2Config, GPT2LMHeadModel, GPTBigCodeConfig, GPTBigCodeForCausalLM,
                          LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM)

REPO_ROOT = Path(__file__).resolve().parent.parent
GPT2_TOKENIZER_DIR = REPO_ROOT.parent / "shared" / "data" / "tokenizers" / "gpt2"
if not GPT2_TOKENIZER_DIR.is_dir():  # the repo may live elsewhere; fall back to the known location
    GPT2_TOKENIZER_DIR = Path("/work/shared/data/tokenizers/gpt2")

MIN_REL_MARGIN = 1e-3
MAX_ATTEMPTS = 60
MIN_BEAM_GAP = 1e-5  # relative; kiln fp32 logits match HF to ~1e-6
MAX_BEAM_PROMPT_ATTEMPTS = 200

# ---------------------------------------------------------------------------------------------
# Fixture definitions.
#   config: GPT2Config kwargs (on top of the HF defaults)
#   save_dtype: float32 | float16 | bfloat16
#   max_shard_size: passed to save_pretrained (to force a sharded checkpoint)
#   eos: None (keep config defaults) | "single" | "list"  (chosen from the model's own greedy
#        outputs so that at least one prompt stops early)
#   cases: name, max_new_tokens, repetition_penalty, prompt lengths ("max" = n_positions -
#          max_new_tokens - slack)
#   beam_cases: like cases, plus num_beams, length_penalty, early_stopping (False/True/"never"),
#          num_return_sequences, want_eos (some returned hypothesis must end on EOS early)
# ---------------------------------------------------------------------------------------------
FIXTURES = [
    dict(
        name="base_gelu_new",
        seed=1,
        notes="HF defaults except size: gelu_new, n_inner=None (4*n_embd), eps=1e-5, tied embeddings, "
        "eos/bos=50256 (outside the vocab, so never generated). Longest prompt fills n_positions exactly "
        "(prompt + max_new_tokens == n_positions). Second case: greedy with repetition_penalty=1.3.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=4),
        cases=[
            dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max0"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[1, 7, "max"]),
        ],
        beam_cases=[
            dict(name="beam2_lp2_nrs2", max_new_tokens=8, prompt_lens=[1, 6], num_beams=2,
                 length_penalty=2.0, early_stopping=False, num_return_sequences=2),
        ],
    ),
    dict(
        name="gelu_inner70_eps1e-3_3heads_hd9",
        seed=2,
        notes="activation gelu (erf), explicit odd n_inner=70, layer_norm_epsilon=1e-3, odd n_embd=27 "
        "with n_head=3 (odd head_dim 9), 1 layer.",
        config=dict(vocab_size=128, n_positions=48, n_embd=27, n_layer=1, n_head=3, n_inner=70,
                    activation_function="gelu", layer_norm_epsilon=1e-3),
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[1, 4, "max"])],
    ),
    dict(
        name="relu_noscale",
        seed=3,
        notes="activation relu, scale_attn_weights=False (no 1/sqrt(head_dim)), 1 layer, vocab 100.",
        config=dict(vocab_size=100, n_positions=32, n_embd=16, n_layer=1, n_head=2,
                    activation_function="relu", scale_attn_weights=False),
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[1, 3, "max"])],
    ),
    dict(
        name="gelu_fast_invlayer",
        seed=4,
        notes="activation gelu_fast, scale_attn_by_inverse_layer_idx=True (scores scaled by "
        "1/sqrt(head_dim)/(layer_idx+1)), 3 layers, explicit n_inner=3*n_embd=48. Second case "
        "with repetition_penalty=1.3.",
        config=dict(vocab_size=200, n_positions=64, n_embd=16, n_layer=3, n_head=2, n_inner=48,
                    activation_function="gelu_fast", scale_attn_by_inverse_layer_idx=True),
        cases=[
            dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 6, "max"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=10, repetition_penalty=1.3,
                 prompt_lens=[2, 9]),
        ],
    ),
    dict(
        name="gelu_pytorch_tanh_reorder_5heads",
        seed=5,
        notes="activation gelu_pytorch_tanh, reorder_and_upcast_attn=True, n_embd=20 with n_head=5 "
        "(head_dim 4), 2 layers.",
        config=dict(vocab_size=128, n_positions=48, n_embd=20, n_layer=2, n_head=5,
                    activation_function="gelu_pytorch_tanh", reorder_and_upcast_attn=True),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="quick_gelu_untied",
        seed=6,
        notes="activation quick_gelu, tie_word_embeddings=False (separate lm_head.weight in the file), "
        "n_embd=24 with n_head=2, 2 layers.",
        config=dict(vocab_size=128, n_positions=48, n_embd=24, n_layer=2, n_head=2,
                    activation_function="quick_gelu", tie_word_embeddings=False),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 4, "max"])],
    ),
    dict(
        name="silu_sharded",
        seed=7,
        notes="activation silu, sharded safetensors checkpoint (model.safetensors.index.json + shards), "
        "vocab 400, 2 layers.",
        config=dict(vocab_size=400, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                    activation_function="silu"),
        max_shard_size="20KB",
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="tanh_fp16",
        seed=8,
        notes="activation tanh, weights saved in float16; golden outputs from the fp16 weights widened "
        "to fp32 and run in fp32.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                    activation_function="tanh"),
        save_dtype="float16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="gelu_new_bf16",
        seed=9,
        notes="activation gelu_new, weights saved in bfloat16; golden outputs from the bf16 weights "
        "widened to fp32 and run in fp32. n_inner=None.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=2),
        save_dtype="bfloat16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="eos_single",
        seed=10,
        notes="generation_config.json (and config.json) carry a single eos_token_id inside the vocab "
        "and a pad_token_id; at least one prompt stops early on EOS (the EOS id is the last output "
        "token). Second case: greedy with repetition_penalty=1.3 and the same EOS.",
        config=dict(vocab_size=128, n_positions=64, n_embd=16, n_layer=2, n_head=2),
        eos="single",
        cases=[
            dict(name="greedy", max_new_tokens=16, prompt_lens=[1, 3, 6, 11, "max"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=16, repetition_penalty=1.3,
                 prompt_lens=[1, 4, 8]),
        ],
        beam_cases=[
            dict(name="beam4", max_new_tokens=12, prompt_lens=[1, 4, 9], num_beams=4,
                 length_penalty=1.0, early_stopping=False, num_return_sequences=1, want_eos=True),
            dict(name="beam2_lp0.5_early_true_nrs2", max_new_tokens=12, prompt_lens=[2, 6],
                 num_beams=2, length_penalty=0.5, early_stopping=True, num_return_sequences=2,
                 want_eos=True),
            dict(name="beam4_rep1.3_lp0.8_never_nrs3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[3, 7], num_beams=4, length_penalty=0.8, early_stopping="never",
                 num_return_sequences=3, want_eos=True),
        ],
    ),
    dict(
        name="eos_list",
        seed=11,
        notes="generation_config.json has eos_token_id as a list of two ids (both make some prompt stop "
        "early); config.json has only the first of them as eos_token_id (HF generate follows "
        "generation_config.json). pad_token_id set. activation gelu_new.",
        config=dict(vocab_size=128, n_positions=64, n_embd=16, n_layer=2, n_head=2),
        eos="list",
        cases=[dict(name="greedy", max_new_tokens=16, prompt_lens=[1, 2, 4, 7, 12, "max"])],
        beam_cases=[
            dict(name="beam4_lp0.7_never_nrs4", max_new_tokens=12, prompt_lens=[1, 5, 10],
                 num_beams=4, length_penalty=0.7, early_stopping="never", num_return_sequences=4,
                 want_eos=True),
            dict(name="beam3_lp-0.5_early_true_nrs2", max_new_tokens=12, prompt_lens=[2, 8],
                 num_beams=3, length_penalty=-0.5, early_stopping=True, num_return_sequences=2,
                 want_eos=True),
        ],
    ),
    dict(
        name="real_vocab_fp16",
        seed=12,
        notes="vocab_size=50257 (real GPT-2 vocabulary), n_embd=16, 1 layer, float16 weights, tied. Use "
        "with the GPT-2 tokenizer from shared/data/tokenizers/gpt2 (encoder.json -> vocab.json, "
        "vocab.bpe -> merges.txt). prompts are the token ids of prompt_texts (no BOS added); "
        "output_texts decode the generated ids only. first_logits are omitted (50257 floats per "
        "prompt would blow the size budget); logits are covered by the other fixtures.",
        config=dict(vocab_size=50257, n_positions=64, n_embd=16, n_layer=1, n_head=2),
        save_dtype="float16",
        real_vocab=True,
        cases=[dict(name="greedy_text", max_new_tokens=8,
                    prompt_texts=["Hello, my name is", "The quick brown fox jumps over the",
                                  "In 1492, Columbus sailed"])],
    ),
]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


# ---------------------------------------------------------------------------------------------
def init_weights(model: GPT2LMHeadModel) -> None:
    """Large-std init so logits are well separated and greedy outputs vary. The position embeddings
    get the largest std: with tied embeddings a random model otherwise tends to predict the token
    it was just fed (h ~ wte[t] => argmax wte @ h = t) and greedy decoding collapses into a loop."""
    with torch.no_grad():
        for name, p in model.named_parameters():  # a tied lm_head shares wte and is not listed twice
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif "wte" in name or "lm_head" in name:
                p.copy_(0.5 * torch.randn_like(p))
            elif "wpe" in name:
                p.copy_(1.5 * torch.randn_like(p))
            else:  # c_attn / c_proj / c_fc weights
                p.copy_(0.3 * torch.randn_like(p))


def load_fp32(path: Path, attn: str = "eager", model_cls=GPT2LMHeadModel):
    m = model_cls.from_pretrained(str(path), dtype=torch.float32, attn_implementation=attn)
    return m.eval()


# ---------------------------------------------------------------------------------------------
# OPT (--family opt): OPTConfig kwargs; HF defaults are relu, pre-LN, biases, affine LayerNorms,
# tied lm_head, eos/bos = 2 and pad = 1 (inside these tiny vocabularies, so generation may stop on 2).
OPT_FIXTURES = [
    dict(
        name="pre_ln_relu",
        seed=101,
        notes="HF defaults except size: relu, do_layer_norm_before=True (final LayerNorm), biases, "
        "affine LayerNorms, word_embed_proj_dim=hidden (no projections), tied lm_head, eos=2 "
        "(HF default, inside the vocab). Positions are looked up at index + 2. Longest prompt fills "
        "max_position_embeddings exactly. Second case: repetition_penalty=1.3.",
        config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                    num_attention_heads=4, max_position_embeddings=64),
        cases=[
            dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max0"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[1, 7, "max"]),
        ],
    ),
    dict(
        name="post_ln_project_350m",
        seed=102,
        notes="opt-350m layout: do_layer_norm_before=False (post-LN blocks, no final LayerNorm), "
        "word_embed_proj_dim=16 < hidden_size=32 (project_in / project_out, bias-free), relu, "
        "3 layers, 2 heads, ffn_dim=48.",
        config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=3, ffn_dim=48,
                    num_attention_heads=2, max_position_embeddings=48, do_layer_norm_before=False,
                    word_embed_proj_dim=16),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 4, "max"])],
    ),
    dict(
        name="pre_ln_project_gelu",
        seed=103,
        notes="pre-LN with word_embed_proj_dim=24 != hidden_size=20: final LayerNorm then "
        "project_out; activation gelu (erf); 5 heads of head_dim 4; odd ffn_dim=36.",
        config=dict(vocab_size=100, hidden_size=20, num_hidden_layers=2, ffn_dim=36,
                    num_attention_heads=5, max_position_embeddings=40, word_embed_proj_dim=24,
                    activation_function="gelu"),
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[1, 6, "max"])],
    ),
    dict(
        name="nobias_noaffine",
        seed=104,
        notes="enable_bias=False (no q/k/v/out/fc1/fc2 biases), layer_norm_elementwise_affine=False "
        "(LayerNorms without weight and bias), relu, pre-LN.",
        config=dict(vocab_size=128, hidden_size=24, num_hidden_layers=2, ffn_dim=40,
                    num_attention_heads=3, max_position_embeddings=48, enable_bias=False,
                    layer_norm_elementwise_affine=False),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="post_ln_nobias_gelu_new",
        seed=105,
        notes="post-LN (do_layer_norm_before=False) without projections, enable_bias=False, "
        "activation gelu_new, 1 layer.",
        config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=1, ffn_dim=64,
                    num_attention_heads=4, max_position_embeddings=48, do_layer_norm_before=False,
                    enable_bias=False, activation_function="gelu_new"),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="untied_fp16",
        seed=106,
        notes="tie_word_embeddings=False (own lm_head.weight), weights saved in float16 (golden "
        "outputs from the fp16 weights widened to fp32), silu activation, word_embed_proj_dim=16 "
        "with hidden_size=32, pre-LN.",
        config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                    num_attention_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
                    activation_function="silu", word_embed_proj_dim=16),
        save_dtype="float16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="remove_final_ln_bf16",
        seed=107,
        notes="_remove_final_layer_norm=True (pre-LN without the final LayerNorm), weights saved in "
        "bfloat16, relu.",
        config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                    num_attention_heads=4, max_position_embeddings=64,
                    _remove_final_layer_norm=True),
        save_dtype="bfloat16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="eos_list",
        seed=108,
        notes="generation_config.json has eos_token_id as a list of two ids (both stop some prompt "
        "early); config.json has the first. pad_token_id set. Pre-LN relu.",
        config=dict(vocab_size=128, hidden_size=16, num_hidden_layers=2, ffn_dim=32,
                    num_attention_heads=2, max_position_embeddings=64),
        eos="list",
        cases=[dict(name="greedy", max_new_tokens=16, prompt_lens=[1, 2, 4, 7, 12, "max"])],
    ),
]

# GPTBigCode (--family gpt_bigcode): GPTBigCodeConfig kwargs; HF defaults are multi_query=True,
# gelu_pytorch_tanh, n_inner=None (4 * n_embd), scale_attn_weights=True, tied lm_head.
BIGCODE_FIXTURES = [
    dict(
        name="mqa_base",
        seed=201,
        notes="HF defaults except size: multi_query=True (one K/V head; c_attn rows are "
        "[q (n_embd) | k (head_dim) | v (head_dim)]), gelu_pytorch_tanh, n_inner=None, tied lm_head, "
        "eos/bos=50256 (outside the vocab). Longest prompt fills n_positions exactly. Second case: "
        "repetition_penalty=1.3.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=4),
        cases=[
            dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max0"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[1, 7, "max"]),
        ],
    ),
    dict(
        name="mha_inner40_eps1e-3",
        seed=202,
        notes="multi_query=False (MHA; HF's c_attn rows are per head [q_h | k_h | v_h]), explicit "
        "n_inner=40, layer_norm_epsilon=1e-3, 4 heads of head_dim 6, 2 layers.",
        config=dict(vocab_size=128, n_positions=48, n_embd=24, n_layer=2, n_head=4, n_inner=40,
                    layer_norm_epsilon=1e-3, multi_query=False),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 4, "max"])],
    ),
    dict(
        name="mqa_noscale_gelu",
        seed=203,
        notes="scale_attn_weights=False (no 1/sqrt(head_dim)), activation gelu (erf), n_inner=48, "
        "MQA with 2 heads, 1 layer, attention_softmax_in_fp32=False (no effect in fp32).",
        config=dict(vocab_size=100, n_positions=32, n_embd=16, n_layer=1, n_head=2, n_inner=48,
                    scale_attn_weights=False, activation_function="gelu",
                    attention_softmax_in_fp32=False),
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[1, 3, "max"])],
    ),
    dict(
        name="mqa_fp16_relu_3layers",
        seed=204,
        notes="MQA, weights saved in float16 (golden outputs from the fp16 weights widened to fp32), "
        "relu, 3 layers, 8 heads of head_dim 4, scale_attention_softmax_in_fp32=False.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=3, n_head=8,
                    activation_function="relu", scale_attention_softmax_in_fp32=False),
        save_dtype="float16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="mha_bf16_untied",
        seed=205,
        notes="MHA, tie_word_embeddings=False (own lm_head.weight), weights saved in bfloat16, "
        "gelu_new, 2 heads.",
        config=dict(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                    multi_query=False, tie_word_embeddings=False, activation_function="gelu_new"),
        save_dtype="bfloat16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="eos_list",
        seed=206,
        notes="MQA; generation_config.json has eos_token_id as a list of two ids (both stop some "
        "prompt early); config.json has the first. pad_token_id set.",
        config=dict(vocab_size=128, n_positions=64, n_embd=16, n_layer=2, n_head=2),
        eos="list",
        cases=[dict(name="greedy", max_new_tokens=16, prompt_lens=[1, 2, 4, 7, 12, "max"])],
    ),
]


def init_weights_opt(model) -> None:
    """init_weights' recipe for OPT's parameter names (large stds so greedy outputs vary)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.5 * torch.randn_like(p))
            elif "embed_positions" in name:
                p.copy_(1.5 * torch.randn_like(p))
            else:  # q/k/v/out_proj, fc1, fc2, project_in/out
                p.copy_(0.3 * torch.randn_like(p))


# ---------------------------------------------------------------------------------------------
# LLaMA (LlamaForCausalLM). Tiny configs: hidden 32, 4 heads (head_dim 8 unless overridden), 2
# layers, intermediate 48, vocab 128. "legacy_rope" rewrites config.json after save_pretrained to
# the pre-5.x spelling (rope_scaling with "type" + top-level rope_theta) so kiln's reading of both
# is tested; goldens come from the folder as written. expected.json also carries HF's rotary
# state ("rope": inv_freq, attention_scaling; dynamic: inv_freq at grown lengths) for the exact
# inv_freq check. Dynamic NTK goldens run every generate/forward from a fresh rotary state (HF
# keeps the grown inv_freq across calls otherwise).
_LL = dict(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
           num_attention_heads=4, max_position_embeddings=64)
LLAMA_FIXTURES = [
    dict(
        name="base",
        seed=101,
        notes="HF defaults except size: silu, MHA (4 kv heads), untied, rope_theta 10000, eps 1e-6, "
        "bos 1 / eos 2. Longest prompt fills max_position_embeddings exactly. Second case with "
        "repetition_penalty=1.3.",
        config=dict(_LL),
        cases=[
            dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max0"]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[1, 7, "max"]),
        ],
        beam_cases=[
            dict(name="beam2_lp2_nrs2", max_new_tokens=8, prompt_lens=[1, 6], num_beams=2,
                 length_penalty=2.0, early_stopping=False, num_return_sequences=2),
        ],
    ),
    dict(
        name="gqa_tied_theta500",
        seed=102,
        notes="GQA: 2 kv heads of 4, tie_word_embeddings=True, rope_theta=500, rms_norm_eps=1e-5.",
        config=dict(_LL, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=500.0,
                    rms_norm_eps=1e-5),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="mqa_head_dim16",
        seed=103,
        notes="MQA (1 kv head), head_dim=16 overriding hidden/heads=8 (q is 64 wide, o_proj 32x64), "
        "3 layers, partial_rotary_factor=0.5 at the top level (LLaMA's default RoPE ignores it).",
        config=dict(_LL, num_key_value_heads=1, head_dim=16, num_hidden_layers=3,
                    partial_rotary_factor=0.5),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 6, "max"])],
    ),
    dict(
        name="bias_gelu_tanh",
        seed=104,
        notes="attention_bias=True and mlp_bias=True, hidden_act gelu_pytorch_tanh, GQA 2 of 4.",
        config=dict(_LL, attention_bias=True, mlp_bias=True, hidden_act="gelu_pytorch_tanh",
                    num_key_value_heads=2),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 4, "max"])],
    ),
    dict(
        name="rope_linear_legacy",
        seed=105,
        notes="rope_scaling linear factor 2.0 written in the legacy spelling (rope_scaling {type: "
        "linear}, top-level rope_theta 20000), hidden_act relu.",
        config=dict(_LL, rope_scaling=dict(rope_type="linear", factor=2.0), rope_theta=20000.0,
                    hidden_act="relu"),
        legacy_rope=True,
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="rope_dynamic",
        seed=106,
        notes="dynamic NTK factor 2.0, max_position_embeddings=16: prompts of 3, 12 (within) and "
        "17, 22 (beyond; generation continues to position 29) tokens. HF recomputes inv_freq from "
        "each forward's max position once beyond 16; goldens are per prompt alone from a fresh "
        "rotary state (kiln applies the rule per sequence and step: layers/rotary.h).",
        config=dict(_LL, max_position_embeddings=16, rope_scaling=dict(rope_type="dynamic", factor=2.0)),
        cases=[dict(name="greedy", max_new_tokens=8, prompt_lens=[3, 12, 17, 22])],
    ),
    dict(
        name="rope_llama3_head_dim16",
        seed=107,
        notes="llama3 rope (factor 8, low_freq_factor 1, high_freq_factor 4, "
        "original_max_position_embeddings 16, rope_theta 10000), head_dim 16 (2 heads of 16, "
        "1 kv head): inv_freq has unscaled, smoothed and scaled bands. Legacy spelling.",
        config=dict(_LL, num_attention_heads=2, num_key_value_heads=1,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=16)),
        legacy_rope=True,
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="rope_yarn",
        seed=108,
        notes="yarn factor 4, original_max_position_embeddings 16, max_position_embeddings 64, "
        "head_dim 16, defaults otherwise (beta_fast 32, beta_slow 1, truncate, attention_factor "
        "0.1 ln(4) + 1 scaling cos and sin).",
        config=dict(_LL, num_attention_heads=2,
                    rope_scaling=dict(rope_type="yarn", factor=4.0,
                                      original_max_position_embeddings=16)),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="rope_yarn_mscale_notrunc",
        seed=109,
        notes="yarn factor 3, mscale 1.0 / mscale_all_dim 0.5 (attention_factor from their ratio), "
        "beta_fast 16, beta_slow 2, truncate false, rope_theta 1000.",
        config=dict(_LL, rope_theta=1000.0,
                    rope_scaling=dict(rope_type="yarn", factor=3.0, original_max_position_embeddings=20,
                                      mscale=1.0, mscale_all_dim=0.5, beta_fast=16.0, beta_slow=2.0,
                                      truncate=False)),
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="fp16_gqa",
        seed=110,
        notes="weights saved in float16 (goldens from them widened to fp32), GQA 2 of 4.",
        config=dict(_LL, num_key_value_heads=2),
        save_dtype="float16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="bf16_tied",
        seed=111,
        notes="weights saved in bfloat16, tied embeddings, hidden_act gelu (erf).",
        config=dict(_LL, tie_word_embeddings=True, hidden_act="gelu"),
        save_dtype="bfloat16",
        cases=[dict(name="greedy", max_new_tokens=10, prompt_lens=[1, 5, "max"])],
    ),
    dict(
        name="eos_list",
        seed=112,
        notes="generation_config.json eos_token_id is a list of two ids (both stop some prompt); "
        "config.json has the first. GQA 2 of 4.",
        config=dict(_LL, num_key_value_heads=2),
        eos="list",
        cases=[dict(name="greedy", max_new_tokens=16, prompt_lens=[1, 2, 4, 7, 12, "max"])],
        beam_cases=[
            dict(name="beam3_lp0.7_never_nrs2", max_new_tokens=12, prompt_lens=[1, 5, 10],
                 num_beams=3, length_penalty=0.7, early_stopping="never", num_return_sequences=2,
                 want_eos=True),
        ],
    ),
]


def init_weights_llama(model) -> None:
    """init_weights' recipe for LLaMA's parameter names (large stds so greedy outputs vary)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.5 * torch.randn_like(p))
            else:  # q/k/v/o_proj, gate/up/down_proj
                p.copy_(0.3 * torch.randn_like(p))


def llama_n_positions(c) -> int:
    rp = c.rope_parameters or {}
    if rp.get("rope_type") == "dynamic":  # kiln (CPU) accepts factor x max_position_embeddings
        return int(c.max_position_embeddings * rp["factor"])
    return c.max_position_embeddings


def llama_post_save(spec: dict, folder: Path) -> None:
    """legacy_rope: rope_parameters -> rope_scaling {type: ...} + top-level rope_theta."""
    if not spec.get("legacy_rope"):
        return
    cfg = json.loads((folder / "config.json").read_text())
    rp = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rp.pop("rope_theta")
    rp["type"] = rp.pop("rope_type")
    cfg["rope_scaling"] = rp
    (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def llama_extra_expected(m) -> dict:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    re = m.model.rotary_emb
    out = dict(rope=dict(rope_type=re.rope_type, inv_freq=re.original_inv_freq.tolist(),
                         attention_scaling=float(re.attention_scaling)))
    if re.rope_type == "dynamic":
        mpe = m.config.max_position_embeddings
        grown = {}
        for L in (mpe + 1, mpe + 5, 2 * mpe):
            f, _ = ROPE_INIT_FUNCTIONS["dynamic"](m.config, "cpu", seq_len=torch.tensor(L))
            grown[str(L)] = f.tolist()
        out["rope"]["dynamic_inv_freq"] = grown
    return out


def reset_rope(model) -> None:
    """Fresh dynamic-NTK rotary state (HF keeps a grown inv_freq across calls). No-op otherwise."""
    re = getattr(getattr(model, "model", None), "rotary_emb", None)
    if re is not None and "dynamic" in str(getattr(re, "rope_type", "")):
        re.register_buffer("inv_freq", re.original_inv_freq.clone(), persistent=False)
        re.max_seq_len_cached = re.original_max_seq_len


# family -> fixtures, HF classes, weight init, longest sequence of a config
FAMILIES = {
    "gpt2": dict(fixtures=FIXTURES, config_cls=GPT2Config, model_cls=GPT2LMHeadModel,
                 init=init_weights, n_positions=lambda c: c.n_positions),
    "opt": dict(fixtures=OPT_FIXTURES, config_cls=OPTConfig, model_cls=OPTForCausalLM,
                init=init_weights_opt, n_positions=lambda c: c.max_position_embeddings),
    # GPTBigCode's parameter names (transformer.wte/wpe/h.N.ln_1/.../ln_f) fit GPT-2's init recipe.
    "gpt_bigcode": dict(fixtures=BIGCODE_FIXTURES, config_cls=GPTBigCodeConfig,
                        model_cls=GPTBigCodeForCausalLM, init=init_weights,
                        n_positions=lambda c: c.n_positions),
    "llama": dict(fixtures=LLAMA_FIXTURES, config_cls=LlamaConfig, model_cls=LlamaForCausalLM,
                  init=init_weights_llama, n_positions=llama_n_positions,
                  post_save=llama_post_save, extra_expected=llama_extra_expected),
}


def rel_margin(scores: torch.Tensor) -> float:
    top = torch.topk(scores.float(), 2).values
    a, b = float(top[0]), float(top[1])
    return (a - b) / max(abs(a), 1.0)


@torch.no_grad()
def greedy(model, prompt, max_new_tokens, repetition_penalty=1.0, eos=None, use_config_eos=True):
    """Greedy generation for one prompt (batch 1). Returns (generated ids, min rel margin)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    kw = dict(do_sample=False, max_new_tokens=max_new_tokens, num_beams=1,
              return_dict_in_generate=True, output_scores=True,
              attention_mask=torch.ones_like(ids))
    if repetition_penalty != 1.0:
        kw["repetition_penalty"] = repetition_penalty
    if not use_config_eos:
        kw["eos_token_id"] = eos  # callers pass an out-of-vocab id to disable EOS stopping
    reset_rope(model)
    out = model.generate(ids, **kw)
    gen = out.sequences[0, len(prompt):].tolist()
    margins = [rel_margin(s[0]) for s in out.scores]
    return gen, min(margins)


@torch.no_grad()
def last_logits(model, prompt):
    ids = torch.tensor([prompt], dtype=torch.long)
    reset_rope(model)
    return model(ids).logits[0, -1].float()


def make_prompts(gen: torch.Generator, vocab: int, lens, n_positions, max_new_tokens):
    prompts = []
    for L in lens:
        if L == "max0":
            L = n_positions - max_new_tokens
        elif L == "max":
            L = n_positions - max_new_tokens - 2
        prompts.append(torch.randint(0, vocab, (L,), generator=gen).tolist())
    return prompts


# ---------------------------------------------------------------------------------------------
# Beam search
@torch.no_grad()
def beam_generate(model, prompt, c):
    """HF beam search for one prompt (batch 1): (returned generated ids, sequences_scores, scores)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    kw = dict(do_sample=False, max_new_tokens=c["max_new_tokens"], num_beams=c["num_beams"],
              length_penalty=float(c["length_penalty"]), early_stopping=c["early_stopping"],
              num_return_sequences=c["num_return_sequences"], return_dict_in_generate=True,
              output_scores=True, attention_mask=torch.ones_like(ids))
    if c.get("repetition_penalty", 1.0) != 1.0:
        kw["repetition_penalty"] = float(c["repetition_penalty"])
    reset_rope(model)
    out = model.generate(ids, **kw)
    # HF pads the shorter sequences; beam_indices is -1 past each one's generated length
    lens = (out.beam_indices != -1).sum(dim=1).tolist()
    outs = [out.sequences[i, len(prompt):len(prompt) + n].tolist() for i, n in enumerate(lens)]
    return outs, out.sequences_scores.tolist(), [s.float().numpy() for s in out.scores]


def beam_reference(step_scores, num_beams, length_penalty, early_stopping, num_return_sequences,
                   eos_ids, max_new_tokens):
    """HF's _beam_search bookkeeping (transformers 5.x) for one prompt, re-done in float32 on the
    processed log-probs HF used at each step (step_scores[t]: [num_beams, vocab], row i = running
    beam i). This is the algorithm kiln's runtime/sampling/beam_search.cc implements; ties go to
    the lower index. Returns (ranked hypotheses [(generated ids, score)], steps, min relative gap
    between any two scores the bookkeeping compared)."""
    import numpy as np
    f32, neg = np.float32, np.float32(-1.0e9)
    keep = max(2, 1 + len(eos_ids)) * num_beams
    run_score = np.array([0.0] + [-1.0e9] * (num_beams - 1), dtype=f32)
    run_toks = [[] for _ in range(num_beams)]
    fin_score = np.full(num_beams, -1.0e9, dtype=f32)
    fin_toks = [[] for _ in range(num_beams)]
    fin_flag = [False] * num_beams
    unsat = True
    gaps = []

    def note_gaps(vals):  # adjacent gaps of a sorted list, real scores only
        vals = [float(v) for v in vals if np.isfinite(v) and v > -1.0e8]
        for a, b in zip(vals, vals[1:]):
            gaps.append((a - b) / max(abs(a), 1.0))

    steps = 0
    for lp in step_scores:
        steps += 1
        vocab = lp.shape[1]
        acc = (lp.astype(f32) + run_score[:, None]).reshape(-1)
        order = sorted(range(acc.size), key=lambda i: (-acc[i], i))
        note_gaps([acc[i] for i in order[:keep + 1]])
        cand = order[:keep]
        c_score = np.array([acc[i] for i in cand], dtype=f32)
        c_toks = [run_toks[i // vocab] + [i % vocab] for i in cand]
        n_gen = len(c_toks[0])
        hits = [t[-1] in eos_ids or n_gen >= max_new_tokens for t in c_toks]
        # next running beams: best non-finished candidates
        r_score = c_score + np.array(hits, dtype=f32) * neg
        r_order = sorted(range(keep), key=lambda i: (-r_score[i], i))[:num_beams]
        # finished: only the top num_beams candidates may enter
        just = [hits[i] and i < num_beams for i in range(keep)]
        pen = f32(float(n_gen) ** length_penalty)
        f = c_score / pen
        if all(fin_flag) and early_stopping is True:
            f = f + neg
        if not unsat:
            f = f + neg
        f = f + np.array([not j for j in just], dtype=f32) * neg
        m_score = np.concatenate([fin_score, f])
        m_toks = fin_toks + c_toks
        m_flag = fin_flag + just
        note_gaps(sorted(m_score, reverse=True)[:num_beams + 1])
        m_order = sorted(range(m_score.size), key=lambda i: (-m_score[i], i))[:num_beams]
        fin_score = m_score[m_order]
        fin_toks = [m_toks[i] for i in m_order]
        fin_flag = [m_flag[i] for i in m_order]
        run_score = r_score[r_order]
        run_toks = [c_toks[i] for i in r_order]
        # early-stop heuristic (sticky), then the loop condition
        best_len = max_new_tokens if early_stopping == "never" and length_penalty > 0 else n_gen
        best = run_score[0] / f32(float(best_len) ** length_penalty)
        worst = [fin_score.min() if fl else neg for fl in fin_flag]
        if unsat and all(fin_flag):
            gaps.append(abs(float(best) - float(fin_score.min())) / max(abs(float(best)), 1.0))
        unsat = unsat and any(best > w for w in worst)
        if not unsat or (all(fin_flag) and early_stopping is True) or all(hits):
            break
    hyps = [(fin_toks[i], float(fin_score[i])) for i in range(num_return_sequences)]
    return hyps, steps, min(gaps) if gaps else float("inf")


def make_beam_case(model, c, vocab, n_positions, eos_ids, pgen):
    """Draws prompts until HF's beam results are well separated (and, with want_eos, some returned
    hypothesis ends on EOS early); checks beam_reference against HF. Returns the case's fields."""
    for _ in range(MAX_BEAM_PROMPT_ATTEMPTS):
        prompts = make_prompts(pgen, vocab, c["prompt_lens"], n_positions, c["max_new_tokens"])
        rp = float(c.get("repetition_penalty", 1.0))
        e = dict(outputs=[], first_logits=[], beam_outputs=[], beam_scores=[], beam_steps=[])
        margins, gap, eos_early, ok = [], float("inf"), False, True
        for p in prompts:
            gen, mm = greedy(model, p, c["max_new_tokens"], rp)
            if degenerate(gen, False):
                ok = False
            outs, scores, step_scores = beam_generate(model, p, c)
            hyps, steps, g = beam_reference(step_scores, c["num_beams"], float(c["length_penalty"]),
                                            c["early_stopping"], c["num_return_sequences"],
                                            eos_ids, c["max_new_tokens"])
            assert [h[0] for h in hyps] == outs and steps == len(step_scores), (c["name"], hyps, outs)
            assert all(abs(h[1] - s) <= 1e-6 * max(1.0, abs(s)) for h, s in zip(hyps, scores)), \
                (c["name"], hyps, scores)
            eos_early |= any(o and o[-1] in eos_ids and len(o) < c["max_new_tokens"] for o in outs)
            e["outputs"].append(gen)
            e["first_logits"].append(last_logits(model, p).tolist())
            e["beam_outputs"].append(outs)
            e["beam_scores"].append(scores)
            e["beam_steps"].append(steps)
            margins.append(mm)
            gap = min(gap, g)
        if not ok or min(margins) < MIN_REL_MARGIN or gap < MIN_BEAM_GAP:
            continue
        if c.get("want_eos") and not eos_early:
            continue
        fields = dict(name=c["name"], prompts=prompts, max_new_tokens=c["max_new_tokens"],
                      repetition_penalty=float(c.get("repetition_penalty", 1.0)),
                      outputs=e["outputs"], min_margin=min(margins), first_logits=e["first_logits"],
                      num_beams=c["num_beams"], length_penalty=float(c["length_penalty"]),
                      early_stopping=c["early_stopping"],
                      num_return_sequences=c["num_return_sequences"],
                      beam_outputs=e["beam_outputs"], beam_scores=e["beam_scores"],
                      beam_steps=e["beam_steps"], beam_min_gap=gap)
        return fields
    raise RuntimeError(f"beam case {c['name']}: no acceptable prompts after "
                       f"{MAX_BEAM_PROMPT_ATTEMPTS} draws")


def degenerate(out: list[int], stopped_on_eos: bool) -> bool:
    """True for outputs that are mostly one token repeated (a loop would hide position bugs)."""
    if len(out) < 4:
        return False
    longest = run = 1
    for a, b in zip(out, out[1:]):
        run = run + 1 if a == b else 1
        longest = max(longest, run)
    return len(set(out)) < max(3, len(out) // 3) or longest > len(out) // 2


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------
def build_one(spec: dict, out_root: Path, tokenizer=None, family: str = "gpt2") -> dict:
    fam = FAMILIES[family]
    model_cls = fam["model_cls"]
    name = spec["name"]
    final_dir = out_root / name
    save_dtype = DTYPES[spec.get("save_dtype", "float32")]
    last_err = None
    for attempt in range(MAX_ATTEMPTS):
        seed = spec["seed"] + 1000 * attempt
        torch.manual_seed(seed)
        config = fam["config_cls"](**spec["config"])
        model = model_cls(config).eval()
        fam["init"](model)
        n_positions = fam["n_positions"](config)
        if save_dtype != torch.float32:
            model = model.to(save_dtype)

        # prompts (own generator so they don't depend on the weights' RNG draws)
        pgen = torch.Generator().manual_seed(10_000 + seed)
        cases = []
        for c in spec["cases"]:
            if "prompt_texts" in c:
                prompts = [tokenizer.encode(t).ids for t in c["prompt_texts"]]
            else:
                prompts = make_prompts(pgen, config.vocab_size, c["prompt_lens"], n_positions,
                                       c["max_new_tokens"])
            cases.append(dict(c, prompts=prompts))

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            eos_mode = spec.get("eos")
            if eos_mode:
                # first pass without EOS: choose EOS ids from the model's own greedy outputs
                model.save_pretrained(tmp / "stage")
                m = load_fp32(tmp / "stage", model_cls=model_cls)
                noeos = [[greedy(m, p, c["max_new_tokens"], c.get("repetition_penalty", 1.0),
                                 eos=[config.vocab_size + 7], use_config_eos=False)[0]
                          for p in c["prompts"]] for c in cases]
                eos_ids = choose_eos(noeos[0], eos_mode)
                if eos_ids is None:
                    last_err = "could not choose EOS"
                    continue
                pad_id = next(t for t in range(config.vocab_size) if t not in eos_ids)
                model.config.eos_token_id = eos_ids[0]
                model.config.bos_token_id = eos_ids[0]
                model.config.pad_token_id = pad_id
                model.generation_config.eos_token_id = eos_ids if eos_mode == "list" else eos_ids[0]
                model.generation_config.bos_token_id = eos_ids[0]
                model.generation_config.pad_token_id = pad_id

            save_kw = {}
            if spec.get("max_shard_size"):
                save_kw["max_shard_size"] = spec["max_shard_size"]
            model.save_pretrained(tmp / "final", **save_kw)
            if fam.get("post_save"):
                fam["post_save"](spec, tmp / "final")

            m = load_fp32(tmp / "final", "eager", model_cls)
            m_sdpa = load_fp32(tmp / "final", "sdpa", model_cls)
            ok = True
            sdpa_diffs = []
            min_margin_all = float("inf")
            for ci, c in enumerate(cases):
                rp = float(c.get("repetition_penalty", 1.0))
                c["outputs"], c["first_logits"], margins = [], [], []
                for pi, p in enumerate(c["prompts"]):
                    gen, mm = greedy(m, p, c["max_new_tokens"], rp)
                    gen_s, _ = greedy(m_sdpa, p, c["max_new_tokens"], rp)
                    if gen_s != gen:
                        sdpa_diffs.append((c["name"], pi))
                    eos_set = m.generation_config.eos_token_id
                    eos_set = set(eos_set if isinstance(eos_set, list) else [eos_set]) if eos_set is not None else set()
                    stopped = bool(gen) and gen[-1] in eos_set
                    if degenerate(gen, stopped):
                        ok, last_err = False, f"degenerate output {gen}"
                    if eos_mode:
                        # EOS does not change logits: output must be the no-EOS output cut after EOS
                        ref = noeos[ci][pi]
                        cut = next((k + 1 for k, t in enumerate(ref) if t in eos_set), len(ref))
                        assert gen == ref[:cut], (name, gen, ref, eos_set)
                    c["outputs"].append(gen)
                    if not spec.get("real_vocab"):
                        c["first_logits"].append(last_logits(m, p).tolist())
                    margins.append(mm)
                c["min_margin"] = min(margins)
                min_margin_all = min(min_margin_all, c["min_margin"])
            if min_margin_all < MIN_REL_MARGIN:
                ok, last_err = False, f"min margin {min_margin_all:.2e}"
            if eos_mode:
                stops = [o for c in cases for o in c["outputs"] if len(o) < c["max_new_tokens"]]
                if not stops:
                    ok, last_err = False, "no prompt stopped early on EOS"
                if eos_mode == "list":
                    ends = {o[-1] for o in stops}
                    if not set(eos_ids) <= ends:
                        ok, last_err = False, "not every EOS id of the list stops a prompt"
            if spec.get("real_vocab"):
                for c in cases:
                    c["output_texts"] = [tokenizer.decode(o) for o in c["outputs"]]
                    if any("\ufffd" in t for t in c["output_texts"]):
                        ok, last_err = False, "output text not valid UTF-8"
            if not ok:
                continue
            # beam cases: own prompts, never a reason to reseed (see the module docstring)
            eos_cfg = m.generation_config.eos_token_id
            eos_cfg = (eos_cfg if isinstance(eos_cfg, list) else [eos_cfg]) if eos_cfg is not None else []
            beam_cases = [make_beam_case(m, c, config.vocab_size, n_positions, eos_cfg,
                                         torch.Generator().manual_seed(20_000 + 100 * seed + bi))
                          for bi, c in enumerate(spec.get("beam_cases", []))]

            # write out
            if final_dir.exists():
                shutil.rmtree(final_dir)
            shutil.copytree(tmp / "final", final_dir)

        expected = dict(
            config_name=name,
            notes=spec["notes"],
            seed=seed,
            saved_dtype=spec.get("save_dtype", "float32"),
            hf_transformers_version=transformers.__version__,
            torch_version=torch.__version__,
            sdpa_matches_eager=not sdpa_diffs,
            cases=[],
        )
        if fam.get("extra_expected"):
            expected.update(fam["extra_expected"](m))
        if sdpa_diffs:
            expected["sdpa_mismatches"] = [f"{c}[{i}]" for c, i in sdpa_diffs]
        for c in cases:
            e = dict(name=c["name"], prompts=c["prompts"], max_new_tokens=c["max_new_tokens"],
                     repetition_penalty=float(c.get("repetition_penalty", 1.0)),
                     outputs=c["outputs"], min_margin=c["min_margin"])
            if "prompt_texts" in c:
                e["prompt_texts"] = c["prompt_texts"]
                e["output_texts"] = c["output_texts"]
            else:
                e["first_logits"] = c["first_logits"]
            expected["cases"].append(e)
        expected["cases"] += beam_cases
        (final_dir / "expected.json").write_text(dump_json(expected))
        n_params = sum(p.numel() for p in m.parameters())
        return dict(name=name, seed=seed, attempts=attempt + 1, params=n_params,
                    size=dir_size(final_dir), min_margin=min_margin_all, sdpa_diffs=sdpa_diffs,
                    files=sorted(f.name for f in final_dir.iterdir()))
    raise RuntimeError(f"{name}: no acceptable seed after {MAX_ATTEMPTS} attempts ({last_err})")


def choose_eos(outputs: list[list[int]], mode: str):
    """Pick EOS id(s) from greedy outputs (without EOS) so that prompts stop early, not at step 0."""
    def first_pos(out, tok):
        return next((k for k, t in enumerate(out) if t == tok), None)

    candidates = []
    for i, out in enumerate(outputs):
        for k, t in enumerate(out):
            if 2 <= k <= len(out) - 3 and first_pos(out, t) == k:
                # stopping position for every prompt; prefer tokens that don't end others at step 0
                if any(first_pos(o, t) == 0 for o in outputs):
                    continue
                candidates.append((i, k, t))
    if not candidates:
        return None
    if mode == "single":
        _, _, t = candidates[0]
        return [t]
    # list: two ids, each being the first EOS reached by some prompt
    for i1, k1, t1 in candidates:
        for i2, k2, t2 in candidates:
            if i2 == i1 or t2 == t1:
                continue
            s = {t1, t2}
            # the stop token of prompt i1 must be t1 and of prompt i2 must be t2
            def stop_tok(out):
                return next((t for t in out if t in s), None)
            if stop_tok(outputs[i1]) == t1 and stop_tok(outputs[i2]) == t2:
                return [t1, t2]
    return None


def dump_json(obj) -> str:
    """JSON with indentation, but every list of scalars on a single line. Floats use repr
    (shortest round-trip of the double that holds the exact float32 value)."""
    def enc(o, ind):
        pad = "  " * ind
        if isinstance(o, dict):
            items = [f'{pad}  {json.dumps(k)}: {enc(v, ind + 1)}' for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list):
            if all(not isinstance(x, (list, dict)) for x in o):
                return "[" + ", ".join(json.dumps(x) for x in o) + "]"
            return "[\n" + ",\n".join(pad + "  " + enc(x, ind + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o)
    s = enc(obj, 0) + "\n"
    assert json.loads(s) == obj
    return s


def gpt2_tokenizer(tok_dir: Path):
    from tokenizers import ByteLevelBPETokenizer
    vocab = tok_dir / "encoder.json"
    merges = tok_dir / "vocab.bpe"
    if not (vocab.is_file() and merges.is_file()):
        sys.exit(f"GPT-2 tokenizer files not found in {tok_dir} (need encoder.json and vocab.bpe); "
                 "pass --tokenizer_dir or leave out real_vocab_fp16 with --only")
    tok = ByteLevelBPETokenizer.from_file(str(vocab), str(merges))
    try:  # cross-check with transformers' GPT-2 tokenizer loaded from a folder with the HF names
        from transformers import GPT2TokenizerFast
        with tempfile.TemporaryDirectory() as d:
            os.symlink(vocab, os.path.join(d, "vocab.json"))
            os.symlink(merges, os.path.join(d, "merges.txt"))
            hf = GPT2TokenizerFast.from_pretrained(d)
            for t in ["Hello, my name is", "The quick brown fox", "  two  spaces\nand 1492!"]:
                ids = tok.encode(t).ids
                assert hf.encode(t) == ids, t
                assert hf.decode(ids) == tok.decode(ids) == t, t
    except ImportError:
        pass
    return tok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO_ROOT / "tests" / "fixtures"))
    ap.add_argument("--family", default="gpt2", choices=sorted(FAMILIES))
    ap.add_argument("--only", nargs="*", help="only these fixture names")
    ap.add_argument("--tokenizer_dir", default=str(GPT2_TOKENIZER_DIR),
                    help="folder with the GPT-2 encoder.json + vocab.bpe (for real_vocab_fp16)")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)  # fewer sources of run-to-run variation
    out_root = Path(args.out) / args.family
    out_root.mkdir(parents=True, exist_ok=True)
    specs = [s for s in FAMILIES[args.family]["fixtures"] if not args.only or s["name"] in args.only]
    tok = gpt2_tokenizer(Path(args.tokenizer_dir)) if any(s.get("real_vocab") for s in specs) else None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"{'fixture':36s} {'seed':>6s} {'try':>3s} {'params':>9s} {'bytes':>9s} {'min margin':>10s}  sdpa")
    total = 0
    for s in specs:
        r = build_one(s, out_root, tok, args.family)
        total += r["size"]
        sd = "same" if not r["sdpa_diffs"] else f"DIFF {r['sdpa_diffs']}"
        print(f"{r['name']:36s} {r['seed']:6d} {r['attempts']:3d} {r['params']:9d} {r['size']:9d} "
              f"{r['min_margin']:10.2e}  {sd}")
    if not args.only:
        total = dir_size(out_root)
    print(f"total size of {out_root}: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
