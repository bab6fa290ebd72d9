// GPT-Next (NeMo Megatron GPT, e.g. GPT-2B-001) config, as tools/convert_nemo.py writes it into a
// kiln checkpoint's config.json: NeMo's model_config.yaml field names with NeMo's defaults.
// Rotary covers the first int(kv_channels * rotary_percentage) dims of each head (Megatron's
// rotate-half pairing, inv_freq = 1 / rotary_base^(2i/dim)); seq_len_interpolation_factor divides
// positions (kiln: HF's linear rope, inv_freq / factor). No biases, SwiGLU only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/json_config.h"
#include "layers/rotary.h"

namespace kiln::models::gpt_next {

struct GptNextConfig {
  int64_t vocab_size = 0;           // embedding rows (Megatron's padded vocabulary)
  int64_t hidden_size = 0;
  int64_t ffn_hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_query_groups = 0;     // 0 (NeMo: null) means num_attention_heads
  int64_t kv_channels = 0;          // head dim; 0 (null) means hidden_size / num_attention_heads
  std::string normalization = "layernorm";  // layernorm | layernorm1p (weight + 1) | rmsnorm
  double layernorm_epsilon = 1e-5;
  std::string activation = "swiglu";
  double rotary_percentage = 1.0;
  double rotary_base = 10000.0;
  double seq_len_interpolation_factor = 0;  // 0 (null): none
  int64_t max_position_embeddings = 0;
  bool share_embeddings_and_output_weights = true;
  nlohmann::json bos_token_id = nullptr;
  nlohmann::json eos_token_id = nullptr;
  nlohmann::json pad_token_id = nullptr;
  layers::RopeConfig rope;  // derived

  int64_t kv_heads() const { return num_query_groups > 0 ? num_query_groups : num_attention_heads; }
  int64_t head_dim() const {
    return kv_channels > 0 ? kv_channels : hidden_size / num_attention_heads;
  }
  bool norm_has_bias() const { return normalization != "rmsnorm"; }

  static GptNextConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;
};

}  // namespace kiln::models::gpt_next
