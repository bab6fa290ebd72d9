// Per-request generation parameters with Hugging Face's meaning and defaults. Defaults come from
// the model's generation_config.json (or its config.json when there is none), then per-request
// overrides. max_new_tokens < 0 means "unset": HF's max_length rule applies (see resolve_max_new).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

struct SamplingParams {
  static constexpr int kMaxLogprobs = 20;  // OpenAI's top_logprobs limit
  static constexpr int kMaxN = 128;        // samples (or returned sequences) per request
  int64_t max_new_tokens = -1;
  int64_t max_length = 20;  // HF: prompt + generated, used only when max_new_tokens is unset
  int64_t min_new_tokens = 0;
  bool do_sample = false;
  float temperature = 1.f;
  int64_t top_k = 50;  // HF's default; 0 disables
  float top_p = 1.f;
  float repetition_penalty = 1.f;
  float min_p = 0.f;              // HF MinPLogitsWarper; 0 disables
  float presence_penalty = 0.f;   // OpenAI/vLLM additive penalties over generated tokens
  float frequency_penalty = 0.f;
  uint64_t seed = 0;
  std::vector<int32_t> eos_token_ids;  // generation stops after emitting any of these
  std::vector<int32_t> stop_token_ids;  // extra stop ids (kept in the output, like eos)
  std::vector<std::string> stop;        // stop strings (need a tokenizer)
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;  // end tokens do not stop generation (stop_token_ids still do)
  int logprobs = -1;  // -1: none; N >= 0: chosen token's logprob + top-N alternatives
  int n = 1;          // independent samples of one prompt (greedy n > 1 is allowed, as in vLLM)

  // Beam search (HF generate(num_beams=k), greedy beams only).
  int num_beams = 1;
  float length_penalty = 1.f;
  int early_stopping = 0;  // 0: False, 1: True, 2: "never" (HF's three values)
  int num_return_sequences = 1;
  int32_t pad_token_id = -1;
  int32_t bos_token_id = -1;

  // Encoder-decoder: the first decoder token (HF decoder_start_token_id; -1: absent, HF then uses
  // bos_token_id, see decoder_start()).
  int32_t decoder_start_token_id = -1;

  // HF's constraint processors (runtime/sampling/logits_processors.h; all host-side). "The
  // sequence" is HF's input_ids: prompt + generated for decoder-only models; for encoder-decoder
  // models the decoder tokens (start token, any forced decoder prompt, generated).
  int64_t no_repeat_ngram_size = 0;          // 0 disables; n-grams of the sequence occur once
  int64_t encoder_no_repeat_ngram_size = 0;  // 0 disables; n-grams of the encoder ids not repeated
  std::vector<std::vector<int32_t>> bad_words_ids;  // never generated ([[pad]] for Marian)
  int64_t min_length = 0;  // end ids banned while the sequence is shorter (HF: a given
                           // min_new_tokens, even 0, replaces it)
  bool min_new_tokens_set = false;  // min_new_tokens was given (HF: not None), 0 included
  bool min_length_active() const { return min_new_tokens == 0 && !min_new_tokens_set; }
  int32_t forced_bos_token_id = -1;          // -1: none; forced when the sequence has 1 token
  std::vector<int32_t> forced_eos_token_ids;  // forced as the last token (at max length - 1)
  std::vector<int32_t> suppress_tokens;       // always -inf
  std::vector<int32_t> begin_suppress_tokens;  // -inf for the first generated token

  // HF's _prepare_special_tokens: an encoder-decoder model starts its decoder with
  // decoder_start_token_id, else bos_token_id; -1 when neither is set.
  int32_t decoder_start() const {
    return decoder_start_token_id >= 0 ? decoder_start_token_id : bos_token_id;
  }
  // The ids min_length / min_new_tokens ban: the end ids (unless ignore_eos), then stop_token_ids.
  std::vector<int32_t> end_ids() const;
  // True when any processor above is active: such rows must go to the host sampler (the GPU
  // sampling kernel implements none of them).
  bool needs_host_processors() const;

  // Tokens to generate for a prompt of prompt_len tokens.
  int64_t resolve_max_new(int64_t prompt_len) const;
  // Throws kiln::Error with a clear message on out-of-range values and unsupported combinations
  // (beam search with do_sample; several greedy num_return_sequences without beams, as HF; negative
  // sizes; processor token ids outside [0, vocab_size)).
  void validate(int64_t vocab_size) const;
};

// Reads generation_config.json in dir if present, else the generation fields of config.json, as
// HF's from_pretrained does (GenerationConfig.from_pretrained(config.json) when there is no
// generation_config.json). Fields read: eos/pad/bos token ids, max_new_tokens, max_length,
// min_new_tokens, do_sample, temperature, top_k, top_p, repetition_penalty, min_p, num_beams,
// length_penalty, early_stopping (true, false or "never"), num_return_sequences,
// decoder_start_token_id, no_repeat_ngram_size, encoder_no_repeat_ngram_size, bad_words_ids,
// min_length, forced_bos_token_id, forced_eos_token_id (int or list), suppress_tokens,
// begin_suppress_tokens. null means unset. As in HF, a generation_config.json without
// decoder_start_token_id does not fall back to config.json's (decoder_start() falls back to bos).
SamplingParams load_generation_defaults(const std::string& dir);

}  // namespace kiln::runtime
