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

  // Tokens to generate for a prompt of prompt_len tokens.
  int64_t resolve_max_new(int64_t prompt_len) const;
  // Throws kiln::Error with a clear message on out-of-range values and unsupported combinations
  // (beam search with do_sample; several greedy num_return_sequences without beams, as HF).
  void validate(int64_t vocab_size) const;
};

// Reads generation_config.json in dir if present, else the generation fields of config.json, as
// HF's GenerationConfig.from_model_config does. generation_config.json fields read: eos/pad/bos
// token ids, max_new_tokens, max_length, min_new_tokens, do_sample, temperature, top_k, top_p,
// repetition_penalty, min_p, num_beams, length_penalty, early_stopping (true, false or "never"),
// num_return_sequences.
SamplingParams load_generation_defaults(const std::string& dir);

}  // namespace kiln::runtime
