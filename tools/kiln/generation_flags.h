// The generation flags `kiln run` and `kiln eval` share, under HF generate()'s names. Unset
// flags leave the model's generation_config.json values in force (as HF does).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kiln/request.h"

namespace kiln::cli {

struct GenerationFlags {
  std::optional<int64_t> max_new_tokens, min_new_tokens, top_k, no_repeat_ngram_size, min_length;
  std::optional<float> temperature, top_p, min_p, repetition_penalty, length_penalty;
  std::optional<int> num_beams, num_return_sequences;
  std::optional<std::string> early_stopping;  // "true" | "false" | "never"
  std::optional<int32_t> forced_bos_token_id, decoder_start_token_id;
  std::vector<int32_t> forced_eos_token_id;
  bool do_sample = false;
  uint64_t seed = 0;

  SamplingOptions to_sampling_options() const;
  // The flags given, as HF generate() keyword arguments (for the HF comparison scripts).
  nlohmann::json to_hf_kwargs() const;
};

void add_generation_flags(CLI::App* sub, GenerationFlags& g);

}  // namespace kiln::cli
