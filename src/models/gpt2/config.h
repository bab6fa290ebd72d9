// GPT-2 config: every GPT2Config field that changes inference, with HF's defaults. Dropout,
// initializer and summary fields are read by HF for training/heads and have no effect here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/json_config.h"

namespace kiln::models::gpt2 {

struct Gpt2Config {
  static constexpr const char* kModelType = "gpt2";
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;  // 0 (HF: None) means 4 * n_embd
  std::string activation_function = "gelu_new";
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;
  bool reorder_and_upcast_attn = false;  // fp32 attention math; the CPU path is fp32 throughout
  bool tie_word_embeddings = true;
  int64_t bos_token_id = 50256;
  int64_t eos_token_id = 50256;

  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_dim() const { return n_embd / n_head; }
  int64_t kv_heads() const { return n_head; }
  // HF: scores / sqrt(head_dim) if scale_attn_weights, and / (layer + 1) if
  // scale_attn_by_inverse_layer_idx.
  float attention_scale(int64_t layer) const;

  // Parses and validates (positive sizes, n_embd divisible by n_head, known activation).
  static Gpt2Config from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::gpt2
