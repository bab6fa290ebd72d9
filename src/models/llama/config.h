// LLaMA config: every LlamaConfig field transformers 5.x honours at inference, with HF's defaults.
// RoPE parameters are read as HF standardizes them: `rope_scaling` (legacy) else `rope_parameters`,
// `rope_theta` and `partial_rotary_factor` from the top level when the dict lacks them, `type` as
// an alias of `rope_type`, original_max_position_embeddings defaulting to max_position_embeddings.
// partial_rotary_factor: LLaMA's default RoPE ignores it (HF rotates the whole head); with a
// scaling type HF fails on it (cos/sin shorter than the head), so kiln rejects it there.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"
#include "layers/rotary.h"

namespace kiln::models::llama {

struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 0;  // 0 (HF: None) means num_attention_heads
  int64_t head_dim = 0;             // 0 (HF: None) means hidden_size / num_attention_heads
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  nlohmann::json bos_token_id = 1;  // int or null
  nlohmann::json eos_token_id = 2;  // int, list or null
  nlohmann::json pad_token_id = nullptr;
  nlohmann::json rope_parameters = nlohmann::json::object();  // standardized (HF 5.x names)
  layers::RopeConfig rope;  // parsed from rope_parameters

  int64_t kv_heads() const { return num_key_value_heads > 0 ? num_key_value_heads : num_attention_heads; }
  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  // Longest sequence kiln accepts: max_position_embeddings; dynamic NTK extends it to
  // factor x max_position_embeddings (layers/rotary.h).
  int64_t max_positions() const;

  static LlamaConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF 5.x field names
};

}  // namespace kiln::models::llama
