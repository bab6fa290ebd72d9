#!/usr/bin/env python3
"""Writes tests/fixtures/processors/cases.json: HF transformers' own logits processors on fixed rows.

Each case is a generation_config (the HF field names), the sequence HF's processors see (input_ids:
prompt + generated for a decoder-only model; decoder tokens from the start token for an
encoder-decoder one), the prompt length (HF's input_ids_seq_length), the encoder input ids and one
row of fp32 logits. The processor list is built by transformers' own
GenerationMixin._get_logits_processor (after _prepare_generated_length, so min_new_tokens replaces
min_length as in generate()) and applied twice: to the logits (the greedy / sampling path, before
the warpers) and to log_softmax(logits) (the beam path, as _beam_search does). The processor class
names are recorded in HF's order. tests/unit/runtime_processors_test.cc requires kiln's
apply_logits_processors / beam_logprobs to give the same rows.

Every case sets max_new_tokens, so HF's max_length is prompt_len + max_new_tokens, as kiln resolves it.

A second part, "generate", runs HF generate() (greedy and beam search) on a tiny deterministic
decoder-only model (logits = W[last token] + U[position], no cache), with the processors active;
the test re-implements the model and drives kiln's host sampler and BeamSearch with it.

Usage: python3 tools/make_processor_fixtures.py   (needs torch and transformers)
"""
import json
import math
import os
import types

import torch
import transformers
from transformers import GenerationConfig, PretrainedConfig, PreTrainedModel
from transformers.generation import GenerationMixin
from transformers.modeling_outputs import CausalLMOutput

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "processors", "cases.json")
VOCAB = 16


def enc(x):
    """JSON-safe float list: -inf / inf / nan as strings."""
    out = []
    for v in x:
        v = float(v)
        if math.isinf(v):
            out.append("-inf" if v < 0 else "inf")
        elif math.isnan(v):
            out.append("nan")
        else:
            out.append(v)
    return out


class _Holder(GenerationMixin):
    """Just enough of a model for GenerationMixin._get_logits_processor/_prepare_generated_length."""

    def __init__(self, enc_dec):
        self.config = types.SimpleNamespace(is_encoder_decoder=enc_dec)


def processors_for(fields, input_ids, prompt_len, encoder_ids, enc_dec):
    gc = GenerationConfig(**fields)
    holder = _Holder(enc_dec)
    has_default_min_length = "min_length" not in fields
    gc = GenerationMixin._prepare_generated_length(
        holder, gc, has_default_max_length=False, has_default_min_length=has_default_min_length,
        model_input_name="input_ids", input_ids_length=prompt_len,
        inputs_tensor=torch.tensor([encoder_ids]))
    eos = fields.get("eos_token_id")
    gc._eos_token_tensor = None if eos is None else torch.tensor(eos if isinstance(eos, list) else [eos])
    return GenerationMixin._get_logits_processor(
        holder, gc, input_ids_seq_length=prompt_len, encoder_input_ids=torch.tensor([encoder_ids]),
        device="cpu", model_kwargs={})


CASES = []


def case(name, fields, input_ids, prompt_len, encoder_ids=None, enc_dec=False, seed=0):
    """encoder_ids None: decoder-only (HF's encoder_input_ids is then the prompt)."""
    fields = dict(fields)
    fields.setdefault("max_new_tokens", 8)
    g = torch.Generator().manual_seed(1000 + seed)
    logits = torch.randn(1, VOCAB, generator=g, dtype=torch.float32) * 3
    if encoder_ids is None:
        assert not enc_dec
        hf_encoder_ids = input_ids[:prompt_len]
    else:
        hf_encoder_ids = encoder_ids
    procs = processors_for(fields, input_ids, prompt_len, hf_encoder_ids, enc_dec)
    ids = torch.tensor([input_ids])
    greedy = procs(ids, logits.clone())
    beam = procs(ids, torch.nn.functional.log_softmax(logits.clone(), dim=-1))
    CASES.append({
        "name": name,
        "fields": fields,
        "input_ids": input_ids,
        "prompt_len": prompt_len,
        "encoder_ids": encoder_ids,
        "processors": [type(p).__name__ for p in procs],
        "logits": enc(logits[0]),
        "greedy": enc(greedy[0]),
        "beam": enc(beam[0]),
    })


def make_cases():
    # no_repeat_ngram_size
    case("ngram2", {"no_repeat_ngram_size": 2}, [3, 4, 5, 3, 4, 9, 3], 3, seed=1)
    case("ngram2_short", {"no_repeat_ngram_size": 2}, [3], 1, seed=2)
    case("ngram3", {"no_repeat_ngram_size": 3}, [1, 2, 3, 1, 2, 4, 1, 2], 2, seed=3)
    case("ngram1", {"no_repeat_ngram_size": 1}, [7, 8, 7, 2], 2, seed=4)
    case("ngram4_none", {"no_repeat_ngram_size": 4}, [1, 2, 3], 3, seed=5)
    case("ngram2_encdec", {"no_repeat_ngram_size": 2}, [0, 5, 6, 5], 1, encoder_ids=[5, 6, 7],
         enc_dec=True, seed=6)
    # encoder_no_repeat_ngram_size
    case("enc_ngram2", {"encoder_no_repeat_ngram_size": 2}, [0, 4, 5], 1,
         encoder_ids=[5, 6, 5, 8, 4, 5, 2], enc_dec=True, seed=7)
    case("enc_ngram3", {"encoder_no_repeat_ngram_size": 3}, [0, 5, 6], 1,
         encoder_ids=[5, 6, 7, 1, 5, 6, 9], enc_dec=True, seed=8)
    case("enc_ngram3_short", {"encoder_no_repeat_ngram_size": 3}, [0], 1,
         encoder_ids=[0, 6, 7], enc_dec=True, seed=9)
    case("enc_ngram1", {"encoder_no_repeat_ngram_size": 1}, [0, 3], 1,
         encoder_ids=[5, 6, 7], enc_dec=True, seed=10)
    case("enc_ngram2_decoder_only", {"encoder_no_repeat_ngram_size": 2}, [4, 5, 4, 6, 9, 4], 4,
         seed=11)
    # bad_words_ids (single and multi-token; a lone eos entry is dropped by HF)
    case("bad_words", {"bad_words_ids": [[2], [3], [5, 6], [1, 2, 7], [9, 9, 9, 9, 9, 9, 9, 9, 9]],
                       "eos_token_id": 2}, [4, 1, 2, 5], 2, seed=12)
    case("bad_words_multi_nomatch", {"bad_words_ids": [[5, 6], [1, 2, 7]], "eos_token_id": [2, 3]},
         [4, 1, 3], 2, seed=13)
    case("bad_words_pad_marian", {"bad_words_ids": [[15]], "eos_token_id": 0, "pad_token_id": 15},
         [15, 4], 1, encoder_ids=[3, 4, 0], enc_dec=True, seed=14)
    # min_length / min_new_tokens
    case("min_length_active", {"min_length": 5, "eos_token_id": [2, 3]}, [1, 4, 5, 6], 2, seed=15)
    case("min_length_done", {"min_length": 4, "eos_token_id": [2, 3]}, [1, 4, 5, 6], 2, seed=16)
    case("min_length_replaced_by_min_new", {"min_length": 10, "min_new_tokens": 1,
                                            "eos_token_id": 2}, [1, 4, 5, 6], 2, seed=17)
    case("min_new_tokens_active", {"min_new_tokens": 3, "eos_token_id": 2}, [1, 4, 5], 2, seed=18)
    # forced BOS / EOS
    case("forced_bos", {"forced_bos_token_id": 11}, [0], 1, encoder_ids=[4, 5], enc_dec=True,
         seed=19)
    case("forced_bos_later", {"forced_bos_token_id": 11}, [0, 11], 1, encoder_ids=[4, 5],
         enc_dec=True, seed=20)
    case("forced_eos", {"forced_eos_token_id": 2, "max_new_tokens": 4}, [0, 7, 8, 9], 1,
         encoder_ids=[4, 5], enc_dec=True, seed=21)
    case("forced_eos_list", {"forced_eos_token_id": [2, 13], "max_new_tokens": 3}, [6, 7, 8, 9], 2,
         seed=22)
    case("forced_eos_not_yet", {"forced_eos_token_id": 2, "max_new_tokens": 4}, [0, 7, 8], 1,
         encoder_ids=[4, 5], enc_dec=True, seed=23)
    # suppress_tokens / begin_suppress_tokens
    case("suppress", {"suppress_tokens": [1, 4, 9]}, [3, 5], 2, seed=24)
    case("begin_suppress_at_begin", {"begin_suppress_tokens": [2, 6]}, [0, 8, 9], 3,
         encoder_ids=[1], enc_dec=True, seed=25)
    case("begin_suppress_later", {"begin_suppress_tokens": [2, 6]}, [0, 8, 9, 4], 3,
         encoder_ids=[1], enc_dec=True, seed=26)
    case("begin_suppress_after_forced_bos", {"begin_suppress_tokens": [2, 6],
                                             "forced_bos_token_id": 11}, [0, 11], 1,
         encoder_ids=[1], enc_dec=True, seed=27)
    case("begin_suppress_with_forced_bos_first", {"begin_suppress_tokens": [2, 11],
                                                  "forced_bos_token_id": 11}, [0], 1,
         encoder_ids=[1], enc_dec=True, seed=28)
    # order: everything at once; forced EOS after bad words / min length, suppress after forced
    case("order_all_forced_eos", {
        "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "encoder_no_repeat_ngram_size": 2,
        "bad_words_ids": [[13], [8, 2]], "min_length": 9, "eos_token_id": [2, 3],
        "forced_eos_token_id": [2, 3], "suppress_tokens": [3], "max_new_tokens": 4},
        [0, 8, 9, 8], 1, encoder_ids=[9, 5, 6, 1], enc_dec=True, seed=29)
    case("order_all_forced_bos", {
        "repetition_penalty": 0.7, "no_repeat_ngram_size": 2, "bad_words_ids": [[11]],
        "forced_bos_token_id": 11, "suppress_tokens": [4], "begin_suppress_tokens": [11, 5],
        "eos_token_id": 1, "min_length": 3}, [0], 1, encoder_ids=[4, 4], enc_dec=True, seed=30)
    case("order_all_mid", {
        "repetition_penalty": 1.5, "no_repeat_ngram_size": 3, "encoder_no_repeat_ngram_size": 2,
        "bad_words_ids": [[12], [7, 6]], "min_length": 6,
        "eos_token_id": [2], "forced_eos_token_id": 2, "suppress_tokens": [14],
        "begin_suppress_tokens": [1], "max_new_tokens": 10},
        [5, 7, 6, 5, 7], 2, seed=31)


# --- a tiny deterministic decoder-only model for generate() ---------------------------------------

class TinyConfig(PretrainedConfig):
    model_type = "kiln_tiny_table"

    def __init__(self, vocab_size=VOCAB, n_positions=32, **kw):
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        super().__init__(**kw)


class TinyLM(PreTrainedModel, GenerationMixin):
    config_class = TinyConfig
    main_input_name = "input_ids"
    _supports_cache_class = False

    def __init__(self, config, w, u):
        super().__init__(config)
        self.w = torch.nn.Parameter(w, requires_grad=False)  # [vocab, vocab]
        self.u = torch.nn.Parameter(u, requires_grad=False)  # [n_positions, vocab]

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        n = input_ids.shape[1]
        logits = self.w[input_ids] + self.u[:n].unsqueeze(0)  # [b, n, vocab]
        return CausalLMOutput(logits=logits)

    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        return {"input_ids": input_ids}


def make_generate():
    g = torch.Generator().manual_seed(7)
    w = torch.randn(VOCAB, VOCAB, generator=g) * 2
    u = torch.randn(32, VOCAB, generator=g) * 0.5
    model = TinyLM(TinyConfig(), w, u).eval()
    runs = []
    settings = [
        ("greedy_ngram_badwords", {"no_repeat_ngram_size": 2, "bad_words_ids": [[3], [5, 6]],
                                   "eos_token_id": 2, "min_length": 6}),
        ("greedy_forced", {"forced_bos_token_id": 9, "forced_eos_token_id": 2, "eos_token_id": 2,
                           "suppress_tokens": [4], "begin_suppress_tokens": [1]}),
        ("beam_ngram_badwords", {"num_beams": 3, "num_return_sequences": 3,
                                 "no_repeat_ngram_size": 2, "bad_words_ids": [[3], [5, 6]],
                                 "eos_token_id": 2, "min_length": 6}),
        ("beam_forced", {"num_beams": 4, "num_return_sequences": 2, "forced_bos_token_id": 9,
                         "forced_eos_token_id": 2, "eos_token_id": 2, "suppress_tokens": [4],
                         "length_penalty": 0.8, "encoder_no_repeat_ngram_size": 2}),
        ("beam_min_length_eos_list", {"num_beams": 3, "eos_token_id": [2, 7], "min_length": 5,
                                      "no_repeat_ngram_size": 3, "repetition_penalty": 1.2}),
    ]
    for prompt in ([1], [5, 8, 5]):
        for name, kw in settings:
            kw = dict(kw)
            kw.update(max_new_tokens=8, do_sample=False, use_cache=False, pad_token_id=0,
                      return_dict_in_generate=True, output_scores=True)
            out = model.generate(torch.tensor([prompt]), **kw)
            seqs = [s[len(prompt):].tolist() for s in out.sequences]
            rec = {"name": f"{name}_p{len(prompt)}", "prompt": prompt,
                   "fields": {k: v for k, v in kw.items() if k not in (
                       "use_cache", "return_dict_in_generate", "output_scores", "pad_token_id")},
                   "sequences": seqs}
            if "sequences_scores" in out and out.sequences_scores is not None:
                rec["scores"] = out.sequences_scores.tolist()
            runs.append(rec)
    return {"w": [enc(r) for r in w], "u": [enc(r) for r in u], "runs": runs}


def main():
    make_cases()
    data = {"transformers": transformers.__version__, "torch": torch.__version__, "vocab": VOCAB,
            "cases": CASES, "generate": make_generate()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(CASES)} processor cases and {len(data['generate']['runs'])} generate runs "
          f"to {OUT}")


if __name__ == "__main__":
    main()
