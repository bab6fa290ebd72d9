#!/usr/bin/env python3
"""Tiny seeded random Hugging Face encoder–decoder checkpoints + golden outputs for kiln parity.

Usage:  python3 tools/make_encdec_fixtures.py [--out tests/fixtures]
                                              [--family t5|mt5|umt5|bart|mbart|marian ...]
                                              [--only NAME ...]

The encoder–decoder twin of tools/make_fixtures.py (whose helpers it imports: margins, degenerate
outputs, EOS choice, HF's beam bookkeeping replay, JSON layout). For every config below it writes
``<out>/<family>/<name>/`` as an unmodified HF folder (``save_pretrained``: config.json,
model.safetensors, generation_config.json; ``legacy`` configs are then rewritten to the spelling
of the real hub checkpoints, see ``post_save``) and ``expected.json``::

    {"config_name", "notes", "seed", "saved_dtype", "hf_transformers_version", "torch_version",
     "decoder_start_token_id": int,           # what HF's generate starts the decoder from
     "cases": [{"name": str,
                "prompts": [[encoder ids...], ...],
                "max_new_tokens": int | null,  # null: HF's max_length rule (max_length counts the
                                               # decoder start token: generated <= max_length - 1)
                "repetition_penalty": float,   # 1.0 = off
                "generation": {HF generate kwargs on top of generation_config.json, e.g.
                               "no_repeat_ngram_size", "min_length", "max_length",
                               "forced_bos_token_id", "forced_eos_token_id",
                               "decoder_start_token_id", "bad_words_ids"},   # optional
                "outputs": [[generated decoder ids...], ...],  # greedy (num_beams=1), each prompt
                       # alone; WITHOUT the decoder start token; ends with EOS if it stopped on it
                "first_logits": [[fp32 x vocab], ...],  # raw logits of the first decoder step
                       # (decoder input [decoder_start_token_id]), before any logits processor
                "min_margin": float,           # min (top1-top2)/max(|top1|,1) over processed steps
                # beam cases (greedy fields above are filled for them too, with num_beams=1):
                "num_beams", "length_penalty", "early_stopping", "num_return_sequences",
                "beam_outputs", "beam_scores", "beam_steps", "beam_min_gap",
                "use_defaults": true}]}        # only on cases HF ran with generation_config.json's
                       # beam settings (no num_beams/... kwargs): kiln must read them itself

Goldens come from ``<Model>.from_pretrained(dir, dtype=float32, attn_implementation="eager")``
(16-bit checkpoints widened to fp32) with ``generate(do_sample=False)`` and the model's own
generation_config.json, so they are exactly what a user gets. Each config has a fixed seed and is
reseeded (seed + 1000 * attempt) while a greedy step has a top-1/top-2 relative margin below
MIN_REL_MARGIN or an output is degenerate; beam cases redraw their prompts until the beam
bookkeeping's comparisons are separated by MIN_BEAM_GAP (and are replayed exactly by
``make_fixtures.beam_reference``). Encoder prompts are random ids other than pad / decoder start
/ EOS, ending with EOS as the tokenizers add it (a 1-token prompt is a single random id).

Works with transformers 5.x (made with 5.24 on CPU).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (sets HF_HUB_DISABLE_PROGRESS_BARS, imports torch)
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (BartConfig, BartForConditionalGeneration, MarianConfig,  # noqa: E402
                          MarianMTModel, MBartConfig, MBartForConditionalGeneration, MT5Config,
                          MT5ForConditionalGeneration, T5Config, T5ForConditionalGeneration,
                          UMT5Config, UMT5ForConditionalGeneration)

MIN_REL_MARGIN = mf.MIN_REL_MARGIN
MAX_ATTEMPTS = 80

# ---------------------------------------------------------------------------------------------
# Fixture definitions. Like make_fixtures.py, plus:
#   generation: fields set on the model's generation_config before saving
#   legacy: rewrite config.json as transformers 4.x hub checkpoints spell it (post_save)
#   eos: "single" -> EOS (and forced_eos_token_id where the config has one) chosen from the
#        model's greedy outputs so that prompts stop early
#   cases[].generation: HF generate kwargs of that case; max_new_tokens None -> max_length rule
#   cases[].want_change: the case's generation kwargs must change some prompt's output compared
#        with the fixture's first case (so the option is really exercised); with the first case's
#        prompt_lens it reruns the first case's prompts
# ---------------------------------------------------------------------------------------------
_T5 = dict(vocab_size=128, d_model=24, d_kv=6, d_ff=40, num_layers=2, num_heads=4,
           relative_attention_num_buckets=8, relative_attention_max_distance=12,
           decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
_LONG = [1, 6, 19]  # 19 > relative_attention_max_distance 12: the log buckets saturate

T5_FIXTURES = [
    dict(
        name="v1_0_relu_tied_legacy",
        seed=301,
        notes="T5 v1.0 (t5-small layout): feed_forward_proj relu, tied lm_head = shared with the "
        "d_model**-0.5 rescale of the decoder output, config.json in the 4.x spelling (no "
        "tie_word_embeddings, no scale_decoder_outputs: both default to true). 8 relative buckets, "
        "max_distance 12: prompts of 19 tokens and 16 decoder steps cross it. decoder_start 0 = pad, "
        "eos 1. Cases: greedy; repetition_penalty 1.3; no_repeat_ngram_size 2; beams.",
        config=dict(_T5, feed_forward_proj="relu"),
        legacy="t5_tied",
        cases=[
            dict(name="greedy", max_new_tokens=16, prompt_lens=_LONG + [9]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[2, 14]),
            dict(name="no_repeat_ngram_2", max_new_tokens=16, prompt_lens=_LONG + [9],
                 generation=dict(no_repeat_ngram_size=2), want_change=True),
        ],
        beam_cases=[
            dict(name="beam3_lp2_nrs2", max_new_tokens=10, prompt_lens=[3, 15], num_beams=3,
                 length_penalty=2.0, early_stopping=False, num_return_sequences=2),
        ],
    ),
    dict(
        name="v1_1_gated_gelu_untied_dkv_legacy",
        seed=302,
        notes="T5 v1.1 (google/t5-v1_1-* layout): gated-gelu (gelu_new), own lm_head.weight, no "
        "output rescale, config.json in the 4.x spelling (tie_word_embeddings false, no "
        "scale_decoder_outputs). d_kv 8 != d_model/num_heads (4 heads: inner dim 32 vs d_model 24), "
        "num_decoder_layers 2 != num_layers 3 (transformers 5.24's generate cannot run more "
        "decoder than encoder layers: its cache has num_layers entries), layer_norm_epsilon 1e-3, 16 buckets / max_distance "
        "10. Cases: greedy; max_length 9 (8 generated: HF counts the decoder start).",
        config=dict(_T5, d_kv=8, num_layers=3, num_decoder_layers=2, feed_forward_proj="gated-gelu",
                    tie_word_embeddings=False, layer_norm_epsilon=1e-3,
                    relative_attention_num_buckets=16, relative_attention_max_distance=10),
        legacy="t5_untied",
        cases=[
            dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 7, 17]),
            dict(name="max_length_9", max_new_tokens=None, prompt_lens=[4, 12],
                 generation=dict(max_length=9)),
        ],
    ),
    dict(
        name="gated_silu_untied_5x_eos",
        seed=303,
        notes="gated-silu, own lm_head.weight, config.json as transformers 5 writes it "
        "(tie_word_embeddings true + scale_decoder_outputs false, lm_head.weight present in the "
        "file: HF keeps it untied because it differs from shared). num_layers 3, "
        "num_decoder_layers 1, d_kv 10 with 2 heads (inner 20 != d_model 24). EOS chosen from the "
        "outputs so prompts stop early. Cases: greedy; min_length 7 (HF counts the decoder "
        "start: EOS is masked for the first 6 generated tokens); beams with EOS.",
        config=dict(_T5, num_layers=3, num_decoder_layers=1, d_kv=10, num_heads=2,
                    feed_forward_proj="gated-silu", tie_word_embeddings=False),
        untie_lm_head=True,
        eos="single",
        cases=[
            dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 3, 6, 11, 18]),
            dict(name="min_length_7", max_new_tokens=14, prompt_lens=[1, 3, 6, 11, 18],
                 generation=dict(min_length=7), want_change=True),
        ],
        beam_cases=[
            dict(name="beam4_lp0.8_early_true", max_new_tokens=12, prompt_lens=[2, 9], num_beams=4,
                 length_penalty=0.8, early_stopping=True, num_return_sequences=2, want_eos=True),
        ],
    ),
    dict(
        name="gelu_tied_scaled_fp16",
        seed=304,
        notes="feed_forward_proj gelu (non-gated, erf), tied + scale_decoder_outputs true in the "
        "transformers 5 spelling, weights saved in float16 (goldens from them widened to fp32), "
        "1 + 1 layers, 32 buckets / max_distance 20.",
        config=dict(_T5, feed_forward_proj="gelu", num_layers=1, relative_attention_num_buckets=32,
                    relative_attention_max_distance=20),
        save_dtype="float16",
        cases=[dict(name="greedy", max_new_tokens=12, prompt_lens=[1, 5, 24])],
    ),
]

MT5_FIXTURES = [
    dict(
        name="untied_legacy",
        seed=311,
        notes="mT5 (google/mt5-small layout): gated-gelu, own lm_head.weight, no output rescale "
        "(MT5 never rescales in transformers 5), config.json in the 4.x spelling "
        "(tie_word_embeddings false). d_kv 6, 3 heads (inner 18 != d_model 24), 2 + 2 layers, "
        "max_distance 12. Cases: greedy; beams.",
        config=dict(_T5, num_heads=3, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    vocab_size=160),
        untie_lm_head=True,
        legacy="t5_untied",
        cases=[dict(name="greedy", max_new_tokens=14, prompt_lens=_LONG)],
        beam_cases=[
            dict(name="beam2_lp1_never", max_new_tokens=10, prompt_lens=[4, 13], num_beams=2,
                 length_penalty=1.0, early_stopping="never", num_return_sequences=1),
        ],
    ),
    dict(
        name="untied_5x_gated_relu",
        seed=312,
        notes="mT5 as transformers 5 writes it (tie_word_embeddings true, lm_head.weight in the "
        "file: untied, unscaled), feed_forward_proj gated-relu, num_decoder_layers 1.",
        config=dict(_T5, num_decoder_layers=1, feed_forward_proj="gated-relu"),
        untie_lm_head=True,
        cases=[dict(name="greedy", max_new_tokens=12, prompt_lens=[2, 8, 20])],
    ),
]

UMT5_FIXTURES = [
    dict(
        name="untied_legacy",
        seed=321,
        notes="UMT5 (google/umt5-small layout): a relative_attention_bias per self-attention layer "
        "(encoder and decoder), gated-gelu, own lm_head.weight, config.json in the 4.x spelling "
        "(tie_word_embeddings false: no rescale). 3 + 2 layers, max_distance 12. Cases: greedy; "
        "repetition_penalty 1.2.",
        config=dict(_T5, num_layers=3, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
        untie_lm_head=True,
        legacy="t5_untied",
        cases=[
            dict(name="greedy", max_new_tokens=16, prompt_lens=_LONG),
            dict(name="greedy_rep_penalty_1.2", max_new_tokens=12, repetition_penalty=1.2,
                 prompt_lens=[5, 16]),
        ],
    ),
    dict(
        name="relu_tied_scaled_eos",
        seed=322,
        notes="UMT5 with relu FFN, tied + scale_decoder_outputs true (transformers 5 spelling), "
        "d_kv 10 with 2 heads, 16 buckets / max_distance 16, EOS chosen from the outputs. Cases: "
        "greedy; beams.",
        config=dict(_T5, feed_forward_proj="relu", d_kv=10, num_heads=2,
                    relative_attention_num_buckets=16, relative_attention_max_distance=16),
        eos="single",
        cases=[dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 3, 8, 22])],
        beam_cases=[
            dict(name="beam3_lp1.5_nrs2", max_new_tokens=12, prompt_lens=[2, 10], num_beams=3,
                 length_penalty=1.5, early_stopping=False, num_return_sequences=2),
        ],
    ),
]

# BART family (post-LN BART and, less so, pre-LN mBART greedy outputs of random weights fall into
# one repeated id whatever the init; bart-large's no_repeat_ngram_size 3 in generation_config
# keeps them varied): d_model 24; learned positions are offset by 2 (max_position_embeddings + 2 rows).
_BART = dict(vocab_size=128, d_model=24, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=48,
             decoder_ffn_dim=40, encoder_attention_heads=4, decoder_attention_heads=2,
             max_position_embeddings=40)

BART_FIXTURES = [
    dict(
        name="gelu_tied_forced_bos",
        seed=401,
        notes="BART (bart-large layout): post-LN, layernorm_embedding, learned positions (offset 2), "
        "gelu, scale_embedding false, tied lm_head, random final_logits_bias; encoder/decoder "
        "differ in heads (4/2) and ffn (48/40). generation_config: decoder_start 2 (= eos), "
        "forced_bos_token_id 0, forced_eos_token_id 2 (the last allowed token is forced to EOS), "
        "no_repeat_ngram_size 3. Cases: greedy; repetition_penalty 1.3; override "
        "no_repeat_ngram_size 2; beams.",
        config=dict(_BART, forced_bos_token_id=0),
        generation=dict(forced_bos_token_id=0, no_repeat_ngram_size=3),
        cases=[
            dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 6, 20, 40]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[3, 11]),
            dict(name="no_repeat_ngram_2", max_new_tokens=14, prompt_lens=[1, 6, 20, 40],
                 generation=dict(no_repeat_ngram_size=2), want_change=True),
        ],
        beam_cases=[
            dict(name="beam3_lp2_nrs2", max_new_tokens=10, prompt_lens=[4, 12], num_beams=3,
                 length_penalty=2.0, early_stopping=False, num_return_sequences=2),
        ],
    ),
    dict(
        name="relu_scaled_untied_3enc_1dec",
        seed=402,
        notes="scale_embedding true (embeddings x sqrt(d_model)), relu, tie_word_embeddings false "
        "(own lm_head.weight; encoder/decoder embed_tokens untied from shared too, as transformers "
        "5 saves them), 3 encoder / 1 decoder layers, encoder ffn 64 / decoder 24, heads 2/4. "
        "generation_config no_repeat_ngram_size 3. Cases: greedy; decoder_start_token_id 0 and "
        "forced_bos_token_id 5 overrides; forced_eos_token_id off.",
        config=dict(_BART, scale_embedding=True, activation_function="relu",
                    tie_word_embeddings=False, encoder_layers=3, decoder_layers=1,
                    encoder_ffn_dim=64, decoder_ffn_dim=24, encoder_attention_heads=2,
                    decoder_attention_heads=4),
        generation=dict(no_repeat_ngram_size=3),
        cases=[
            dict(name="greedy", max_new_tokens=12, prompt_lens=[1, 8, 33]),
            dict(name="start0_forced_bos5", max_new_tokens=12, prompt_lens=[1, 8, 33],
                 generation=dict(decoder_start_token_id=0, forced_bos_token_id=5),
                 want_change=True),
            dict(name="no_forced_eos", max_new_tokens=12, prompt_lens=[1, 8, 33],
                 generation=dict(forced_eos_token_id=None), want_change=True),
        ],
    ),
    dict(
        name="cnn_like_beam_defaults_eos",
        seed=403,
        notes="bart-large-cnn-like generation_config: num_beams 4, length_penalty 2.0, "
        "early_stopping true, min_length 5, max_length 14, no_repeat_ngram_size 3, forced_bos 0, "
        "forced_eos = EOS (EOS chosen from the outputs so prompts stop early); gelu_new, scale "
        "embedding. Case beam_defaults passes only the prompt (HF's defaults from "
        "generation_config.json, max_new_tokens null). Greedy cases use num_beams=1.",
        config=dict(_BART, activation_function="gelu_new", scale_embedding=True, forced_bos_token_id=0),
        generation=dict(forced_bos_token_id=0, no_repeat_ngram_size=3, num_beams=4,
                        length_penalty=2.0, early_stopping=True, min_length=5, max_length=14),
        eos="single",
        cases=[dict(name="greedy", max_new_tokens=None, prompt_lens=[1, 4, 9, 16, 25])],
        beam_cases=[
            dict(name="beam_defaults", max_new_tokens=None, prompt_lens=[3, 10, 22], use_defaults=True,
                 want_eos=True),
        ],
    ),
    dict(
        name="silu_bf16",
        seed=404,
        notes="activation silu, weights saved in bfloat16 (goldens from them widened to fp32), "
        "1 + 1 layers, 8 heads of 3, generation_config no_repeat_ngram_size 3.",
        config=dict(_BART, activation_function="silu", encoder_layers=1, decoder_layers=1,
                    encoder_attention_heads=8, decoder_attention_heads=8),
        save_dtype="bfloat16",
        generation=dict(no_repeat_ngram_size=3),
        cases=[dict(name="greedy", max_new_tokens=12, prompt_lens=[1, 7, 28])],
    ),
]

MBART_FIXTURES = [
    dict(
        name="pre_ln_forced_bos_lang",
        seed=501,
        notes="mBART-50 layout: pre-LN, layernorm_embedding, final encoder/decoder layer_norm, "
        "scale_embedding true, gelu, tied, random final_logits_bias. generation_config: "
        "decoder_start 2 (= eos), forced_bos_token_id 120 (a language code, as mBART-50 "
        "many-to-one sets), forced_eos 2, no_repeat_ngram_size 3. Cases: greedy; forced_bos_token_id 121 override; beams.",
        config=dict(_BART, scale_embedding=True, decoder_start_token_id=2,
                    forced_bos_token_id=120),
        generation=dict(decoder_start_token_id=2, forced_bos_token_id=120, no_repeat_ngram_size=3),
        cases=[
            dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 9, 38]),
            dict(name="forced_bos_121", max_new_tokens=14, prompt_lens=[1, 9, 38],
                 generation=dict(forced_bos_token_id=121), want_change=True),
        ],
        beam_cases=[
            dict(name="beam4_lp1_early_true_nrs2", max_new_tokens=10, prompt_lens=[5, 17],
                 num_beams=4, length_penalty=1.0, early_stopping=True, num_return_sequences=2),
        ],
    ),
    dict(
        name="relu_untied_eos_fp16",
        seed=502,
        notes="mBART with relu, scale_embedding false, tie_word_embeddings false, 1 encoder / "
        "2 decoder layers, decoder ffn 64, weights saved in float16, EOS chosen from the outputs "
        "(forced_eos follows it). No forced BOS. generation_config no_repeat_ngram_size 3. Cases: "
        "greedy; no_repeat_ngram_size 2.",
        config=dict(_BART, activation_function="relu", tie_word_embeddings=False,
                    encoder_layers=1, decoder_layers=2, decoder_ffn_dim=64,
                    decoder_start_token_id=2),
        save_dtype="float16",
        generation=dict(no_repeat_ngram_size=3),
        eos="single",
        cases=[
            dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 4, 10, 19, 30]),
            dict(name="no_repeat_ngram_2", max_new_tokens=14, prompt_lens=[1, 4, 10, 19, 30],
                 generation=dict(no_repeat_ngram_size=2), want_change=True),
        ],
    ),
]

# Marian: sinusoidal positions (not stored), scale_embedding, swish, post-LN without
# layernorm_embedding, pad = decoder start = last id, eos 0 = forced_eos, bad_words_ids [[pad]].
_MARIAN = dict(vocab_size=128, d_model=24, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=48,
               decoder_ffn_dim=48, encoder_attention_heads=4, decoder_attention_heads=4,
               max_position_embeddings=48, activation_function="swish", scale_embedding=True,
               pad_token_id=127, decoder_start_token_id=127, eos_token_id=0, forced_eos_token_id=0)

MARIAN_FIXTURES = [
    dict(
        name="shared_opus_mt",
        seed=601,
        notes="opus-mt layout: shared encoder/decoder embeddings tied to lm_head, sinusoidal "
        "positions, scale_embedding, swish, random final_logits_bias. generation_config as the "
        "hub's: bad_words_ids [[pad]], decoder_start = pad = 127, eos = forced_eos = 0, num_beams "
        "4, max_length 16; plus no_repeat_ngram_size 3 (as every BART-family fixture here). Greedy "
        "cases pass num_beams=1; beam_defaults uses the config's beams.",
        config=dict(_MARIAN),
        generation=dict(bad_words_ids=[[127]], num_beams=4, max_length=16, no_repeat_ngram_size=3),
        cases=[
            dict(name="greedy", max_new_tokens=15, prompt_lens=[1, 8, 30]),
            dict(name="greedy_rep_penalty_1.3", max_new_tokens=12, repetition_penalty=1.3,
                 prompt_lens=[4, 21]),
        ],
        beam_cases=[dict(name="beam_defaults", max_new_tokens=None, prompt_lens=[3, 14],
                         use_defaults=True)],
    ),
    dict(
        name="separate_vocab_eos",
        seed=602,
        notes="opus-mt-tc-big layout: share_encoder_decoder_embeddings false, decoder_vocab_size "
        "96 < vocab_size 128 (lm_head and final_logits_bias have 96 rows; lm_head tied to the "
        "decoder embeddings), pad = decoder start = 95, gelu, 1 encoder / 2 decoder layers, "
        "bad_words_ids [[95]], no_repeat_ngram_size 3, EOS chosen from the outputs (forced_eos "
        "follows it).",
        config=dict(_MARIAN, share_encoder_decoder_embeddings=False, decoder_vocab_size=96,
                    pad_token_id=95, decoder_start_token_id=95, activation_function="gelu",
                    encoder_layers=1),
        generation=dict(bad_words_ids=[[95]], no_repeat_ngram_size=3),
        eos="single",
        cases=[dict(name="greedy", max_new_tokens=14, prompt_lens=[1, 5, 12, 26])],
        beam_cases=[
            dict(name="beam2_lp0.6_nrs2", max_new_tokens=10, prompt_lens=[3, 9], num_beams=2,
                 length_penalty=0.6, early_stopping=False, num_return_sequences=2, want_eos=True),
        ],
    ),
    dict(
        name="separate_untied_relu",
        seed=603,
        notes="share_encoder_decoder_embeddings false with tie_word_embeddings false (own "
        "lm_head.weight [decoder_vocab, d_model]), decoder_vocab_size 80, scale_embedding false, "
        "relu, 2 + 1 layers, encoder heads 2 / decoder heads 8, bad_words_ids [[79]], "
        "no_repeat_ngram_size 3.",
        config=dict(_MARIAN, share_encoder_decoder_embeddings=False, decoder_vocab_size=80,
                    pad_token_id=79, decoder_start_token_id=79, tie_word_embeddings=False,
                    scale_embedding=False, activation_function="relu", decoder_layers=1,
                    encoder_attention_heads=2, decoder_attention_heads=8),
        generation=dict(bad_words_ids=[[79]], no_repeat_ngram_size=3),
        cases=[dict(name="greedy", max_new_tokens=12, prompt_lens=[1, 10, 40])],
    ),
]


# ---------------------------------------------------------------------------------------------
def init_encdec(model, emb_std: float = 0.5, w_std: float = 0.3, rel_std: float = 1.0) -> None:
    """make_fixtures.init_weights' recipe for encoder–decoder parameter names: norms 1 + N(0, 0.2)
    (biases N(0, 0.2)), relative bias tables N(0, rel_std), learned positions N(0, 1.5),
    embeddings / lm_head N(0, emb_std), other biases N(0, 0.3), matrices N(0, w_std), and a random
    final_logits_bias (a buffer). Marian's sinusoidal table is left alone."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:  # Marian's sinusoidal positions
                continue
            if "norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn_like(p))
            elif "relative_attention_bias" in name:
                p.copy_(rel_std * torch.randn_like(p))
            elif "embed_positions" in name:
                p.copy_(1.5 * torch.randn_like(p))
            elif "shared" in name or "embed_tokens" in name or "lm_head" in name:
                p.copy_(emb_std * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.3 * torch.randn_like(p))
            else:
                p.copy_(w_std * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("final_logits_bias"):
                b.copy_(0.5 * torch.randn_like(b))


def init_t5(model) -> None:
    """init_encdec, then the decoder's final RMSNorm weight negated (-(1 + N(0, 0.2))). The decoder
    state carries the embedding of the token just fed, so a random tied T5 predicts that token
    again and greedy decoding collapses into one repeated id (T5 has no position embeddings to
    break it, as make_fixtures.init_weights does for GPT-2); the negated weight makes the fed
    token the least likely instead."""
    init_encdec(model, emb_std=1.0, w_std=0.3, rel_std=2.0)
    with torch.no_grad():
        model.decoder.final_layer_norm.weight.neg_()


def untie_lm_head(model) -> None:
    """Give lm_head a parameter of its own (transformers 5 ties the T5 family's lm_head to shared
    whatever the config says; it keeps a saved lm_head.weight untied when it differs)."""
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
        model.lm_head.weight.normal_(0.0, 1.0)


def t5_post_save(spec: dict, folder: Path) -> None:
    """legacy: config.json as transformers 4.x hub checkpoints have it. "t5_tied" (t5-small): no
    tie_word_embeddings, no scale_decoder_outputs; "t5_untied" (t5-v1_1, mt5, umt5):
    tie_word_embeddings false, no scale_decoder_outputs."""
    mode = spec.get("legacy")
    if not mode:
        return
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("scale_decoder_outputs", None)
    if mode == "t5_tied":
        cfg.pop("tie_word_embeddings", None)
    else:
        cfg["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def bart_max_pos(c) -> int:
    return c.max_position_embeddings


FAMILIES = {
    "t5": dict(fixtures=T5_FIXTURES, config_cls=T5Config, model_cls=T5ForConditionalGeneration,
               init=init_t5, max_pos=None, post_save=t5_post_save),
    "mt5": dict(fixtures=MT5_FIXTURES, config_cls=MT5Config, model_cls=MT5ForConditionalGeneration,
                init=init_t5, max_pos=None, post_save=t5_post_save),
    "umt5": dict(fixtures=UMT5_FIXTURES, config_cls=UMT5Config,
                 model_cls=UMT5ForConditionalGeneration, init=init_t5, max_pos=None,
                 post_save=t5_post_save),
    "bart": dict(fixtures=BART_FIXTURES, config_cls=BartConfig,
                 model_cls=BartForConditionalGeneration, init=init_encdec, max_pos=bart_max_pos),
    "mbart": dict(fixtures=MBART_FIXTURES, config_cls=MBartConfig,
                  model_cls=MBartForConditionalGeneration, init=init_encdec, max_pos=bart_max_pos),
    "marian": dict(fixtures=MARIAN_FIXTURES, config_cls=MarianConfig, model_cls=MarianMTModel,
                   init=init_encdec, max_pos=bart_max_pos),
}


# ---------------------------------------------------------------------------------------------
def special_ids(cfg) -> set:
    ids = {cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start_token_id,
           getattr(cfg, "forced_bos_token_id", None)}
    return {i for i in ids if i is not None}


def make_prompts(gen: torch.Generator, cfg, lens) -> list[list[int]]:
    """Random encoder inputs of the given lengths: ids other than the specials, ending with EOS."""
    allowed = [t for t in range(cfg.vocab_size) if t not in special_ids(cfg)]
    prompts = []
    for n in lens:
        body = [allowed[int(i)] for i in torch.randint(0, len(allowed), (max(n - 1, 1),),
                                                       generator=gen)]
        prompts.append(body if n == 1 else body + [cfg.eos_token_id])
    return prompts


def gen_kwargs(c: dict, beams: bool) -> dict:
    kw = dict(do_sample=False, return_dict_in_generate=True, output_scores=True)
    if c.get("max_new_tokens") is not None:
        kw["max_new_tokens"] = c["max_new_tokens"]
    if c.get("repetition_penalty", 1.0) != 1.0:
        kw["repetition_penalty"] = float(c["repetition_penalty"])
    kw.update(c.get("generation", {}))
    if not beams:
        kw["num_beams"] = 1
    elif not c.get("use_defaults"):
        kw.update(num_beams=c["num_beams"], length_penalty=float(c["length_penalty"]),
                  early_stopping=c["early_stopping"], num_return_sequences=c["num_return_sequences"])
    return kw


@torch.no_grad()
def greedy(model, prompt, c, **extra):
    """(generated decoder ids without the start token, min relative margin over the steps)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), **gen_kwargs(c, False), **extra)
    assert out.sequences.shape[1] == 1 + len(out.scores)
    return out.sequences[0, 1:].tolist(), min(mf.rel_margin(s[0]) for s in out.scores)


@torch.no_grad()
def beam_generate(model, prompt, c):
    ids = torch.tensor([prompt], dtype=torch.long)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), **gen_kwargs(c, True))
    lens = (out.beam_indices != -1).sum(dim=1).tolist()
    outs = [out.sequences[i, 1:1 + n].tolist() for i, n in enumerate(lens)]
    return outs, out.sequences_scores.tolist(), [s.float().numpy() for s in out.scores]


@torch.no_grad()
def first_logits(model, prompt, start: int) -> list[float]:
    ids = torch.tensor([prompt], dtype=torch.long)
    return model(input_ids=ids, decoder_input_ids=torch.tensor([[start]])).logits[0, -1].float().tolist()


def resolved(model, c: dict) -> dict:
    """The beam settings and generated-token limit HF uses for case c."""
    g = model.generation_config
    kw = gen_kwargs(c, "num_beams" in c or bool(c.get("use_defaults")))

    def get(key, default):  # kwargs, else generation_config.json, else HF's default
        v = kw.get(key, getattr(g, key, None))
        return default if v is None else v
    max_new = kw.get("max_new_tokens")
    if max_new is None:
        max_new = get("max_length", 20) - 1  # the decoder start counts
    return dict(num_beams=get("num_beams", 1), length_penalty=float(get("length_penalty", 1.0)),
                early_stopping=get("early_stopping", False),
                num_return_sequences=get("num_return_sequences", 1), max_new=max_new)


def eos_list(model) -> list[int]:
    e = model.generation_config.eos_token_id
    return [] if e is None else (list(e) if isinstance(e, list) else [e])


def make_beam_case(model, c, cfg, pgen):
    """make_fixtures.make_beam_case for an encoder–decoder model."""
    r = resolved(model, c)
    eos_ids = eos_list(model)
    for _ in range(mf.MAX_BEAM_PROMPT_ATTEMPTS):
        prompts = make_prompts(pgen, cfg, c["prompt_lens"])
        e = dict(outputs=[], first_logits=[], beam_outputs=[], beam_scores=[], beam_steps=[])
        margins, gap, eos_early, ok = [], float("inf"), False, True
        for p in prompts:
            gen, mm = greedy(model, p, c)
            ok &= not mf.degenerate(gen, False)
            outs, scores, step_scores = beam_generate(model, p, c)
            hyps, steps, g = mf.beam_reference(step_scores, r["num_beams"], r["length_penalty"],
                                               r["early_stopping"], r["num_return_sequences"],
                                               eos_ids, r["max_new"])
            assert [h[0] for h in hyps] == outs and steps == len(step_scores), (c["name"], hyps, outs)
            assert all(abs(h[1] - s) <= 1e-6 * max(1.0, abs(s)) for h, s in zip(hyps, scores)), \
                (c["name"], hyps, scores)
            eos_early |= any(o and o[-1] in eos_ids and len(o) < r["max_new"] for o in outs)
            e["outputs"].append(gen)
            e["first_logits"].append(first_logits(model, p, cfg.decoder_start_token_id))
            e["beam_outputs"].append(outs)
            e["beam_scores"].append(scores)
            e["beam_steps"].append(steps)
            margins.append(mm)
            gap = min(gap, g)
        if not ok or min(margins) < MIN_REL_MARGIN or gap < mf.MIN_BEAM_GAP:
            continue
        if c.get("want_eos") and not eos_early:
            continue
        fields = dict(name=c["name"], prompts=prompts, max_new_tokens=c.get("max_new_tokens"),
                      repetition_penalty=float(c.get("repetition_penalty", 1.0)))
        if c.get("generation"):
            fields["generation"] = c["generation"]
        fields.update(outputs=e["outputs"], first_logits=e["first_logits"], min_margin=min(margins),
                      num_beams=r["num_beams"], length_penalty=r["length_penalty"],
                      early_stopping=r["early_stopping"],
                      num_return_sequences=r["num_return_sequences"],
                      beam_outputs=e["beam_outputs"], beam_scores=e["beam_scores"],
                      beam_steps=e["beam_steps"], beam_min_gap=gap)
        if c.get("use_defaults"):
            fields["use_defaults"] = True
        return fields
    raise RuntimeError(f"beam case {c['name']}: no acceptable prompts")


def set_eos(model, eos: int) -> None:
    """EOS (and forced EOS where the config forces one) -> eos, in config and generation config."""
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = eos
        if getattr(cfg, "forced_eos_token_id", None) is not None:
            cfg.forced_eos_token_id = eos


def load(folder: Path, model_cls):
    return model_cls.from_pretrained(str(folder), dtype=torch.float32,
                                     attn_implementation="eager").eval()


def build_one(spec: dict, out_root: Path, family: str) -> dict:
    fam = FAMILIES[family]
    model_cls, name = fam["model_cls"], spec["name"]
    final_dir = out_root / name
    save_dtype = mf.DTYPES[spec.get("save_dtype", "float32")]
    last_err = None
    for attempt in range(MAX_ATTEMPTS):
        seed = spec["seed"] + 1000 * attempt
        torch.manual_seed(seed)
        model = model_cls(fam["config_cls"](**spec["config"])).eval()
        if spec.get("untie_lm_head"):
            untie_lm_head(model)
        fam["init"](model)
        for k, v in spec.get("generation", {}).items():
            setattr(model.generation_config, k, v)
        if save_dtype != torch.float32:
            model = model.to(save_dtype)
        cfg = model.config
        pgen = torch.Generator().manual_seed(10_000 + seed)
        cases = []
        for c in spec["cases"]:  # want_change cases rerun the first case's prompts
            same = c.get("want_change") and c["prompt_lens"] == spec["cases"][0]["prompt_lens"]
            cases.append(dict(c, prompts=[list(p) for p in cases[0]["prompts"]] if same else
                              make_prompts(pgen, cfg, c["prompt_lens"])))
        if fam["max_pos"]:
            mp = fam["max_pos"](cfg)
            for c in cases:
                assert max(map(len, c["prompts"])) <= mp and resolved(model, c)["max_new"] < mp, name

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            if spec.get("eos"):
                # choose EOS from the outputs of a first pass that cannot stop (out-of-vocab EOS)
                model.save_pretrained(tmp / "stage")
                m = load(tmp / "stage", model_cls)
                noeos = [greedy(m, p, cases[0], eos_token_id=cfg.vocab_size + 7,
                                forced_eos_token_id=None)[0] for p in cases[0]["prompts"]]
                chosen = mf.choose_eos(noeos, "single")
                if chosen is None or chosen[0] in special_ids(cfg) - {cfg.eos_token_id}:
                    last_err = "could not choose EOS"
                    continue
                set_eos(model, chosen[0])
            model.save_pretrained(tmp / "final")
            if fam.get("post_save"):
                fam["post_save"](spec, tmp / "final")

            m = load(tmp / "final", model_cls)
            start = m.generation_config.decoder_start_token_id
            eos_set = set(eos_list(m))
            ok, min_all = True, float("inf")
            for c in cases:
                c["outputs"], c["first_logits"], margins = [], [], []
                for p in c["prompts"]:
                    gen, mm = greedy(m, p, c)
                    stopped = bool(gen) and gen[-1] in eos_set
                    if mf.degenerate(gen, stopped) or (stopped and len(gen) < 3):
                        ok, last_err = False, f"degenerate output {gen}"
                    c["outputs"].append(gen)
                    c["first_logits"].append(first_logits(m, p, start))
                    margins.append(mm)
                c["min_margin"] = min(margins)
                min_all = min(min_all, c["min_margin"])
                if c.get("want_change") and c["outputs"] == cases[0]["outputs"]:
                    ok, last_err = False, f"case {c['name']} changes nothing"
            if min_all < MIN_REL_MARGIN:
                ok, last_err = False, f"min margin {min_all:.2e}"
            if spec.get("eos"):
                stops = [o for c in cases[:1] for o in c["outputs"]
                         if o and o[-1] in eos_set and len(o) < resolved(m, c)["max_new"]]
                if not stops:
                    ok, last_err = False, "no prompt stopped early on EOS"
            if not ok:
                continue
            beam_cases = [make_beam_case(m, c, m.config,
                                         torch.Generator().manual_seed(20_000 + 100 * seed + bi))
                          for bi, c in enumerate(spec.get("beam_cases", []))]
            if final_dir.exists():
                shutil.rmtree(final_dir)
            shutil.copytree(tmp / "final", final_dir)

        expected = dict(config_name=name, notes=spec["notes"], seed=seed,
                        saved_dtype=spec.get("save_dtype", "float32"),
                        hf_transformers_version=transformers.__version__,
                        torch_version=torch.__version__, decoder_start_token_id=start, cases=[])
        for c in cases:
            e = dict(name=c["name"], prompts=c["prompts"], max_new_tokens=c["max_new_tokens"],
                     repetition_penalty=float(c.get("repetition_penalty", 1.0)))
            if c.get("generation"):
                e["generation"] = c["generation"]
            e.update(outputs=c["outputs"], first_logits=c["first_logits"], min_margin=c["min_margin"])
            expected["cases"].append(e)
        expected["cases"] += beam_cases
        (final_dir / "expected.json").write_text(mf.dump_json(expected))
        return dict(name=name, seed=seed, attempts=attempt + 1,
                    params=sum(p.numel() for p in m.parameters()), size=mf.dir_size(final_dir),
                    min_margin=min_all)
    raise RuntimeError(f"{name}: no acceptable seed after {MAX_ATTEMPTS} attempts ({last_err})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(mf.REPO_ROOT / "tests" / "fixtures"))
    ap.add_argument("--family", nargs="*", choices=sorted(FAMILIES), help="default: all")
    ap.add_argument("--only", nargs="*", help="only these fixture names")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    total = 0
    for family in args.family or list(FAMILIES):
        out_root = Path(args.out) / family
        out_root.mkdir(parents=True, exist_ok=True)
        for s in FAMILIES[family]["fixtures"]:
            if args.only and s["name"] not in args.only:
                continue
            r = build_one(s, out_root, family)
            print(f"{family:6s} {r['name']:36s} seed {r['seed']:6d} try {r['attempts']:3d} "
                  f"params {r['params']:7d} bytes {r['size']:8d} margin {r['min_margin']:.2e}",
                  flush=True)
        total += mf.dir_size(out_root)
    print(f"total size: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    sys.exit(main())
