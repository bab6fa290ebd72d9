// GPTBigCode (SantaCoder / StarCoder) config: every GPTBigCodeConfig field that changes inference,
// with HF's defaults. attention_softmax_in_fp32 / scale_attention_softmax_in_fp32 only matter for
// 16-bit compute, where kiln's softmax is always fp32; they are kept for round-tripping.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"

namespace kiln::models::gpt_bigcode {

struct GptBigCodeConfig {
  static constexpr const char* kModelType = "gpt_bigcode";
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;  // 0 (HF: None) means 4 * n_embd
  std::string activation_function = "gelu_pytorch_tanh";
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true;
  bool attention_softmax_in_fp32 = true;
  bool scale_attention_softmax_in_fp32 = true;
  bool multi_query = true;  // one K/V head shared by all query heads
  bool tie_word_embeddings = true;
  int64_t bos_token_id = 50256;
  std::vector<int64_t> eos_token_id = {50256};

  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_dim() const { return n_embd / n_head; }
  int64_t kv_heads() const { return multi_query ? 1 : n_head; }
  // HF: scores / sqrt(head_dim) if scale_attn_weights (every layer alike).
  float attention_scale(int64_t layer) const;

  // Parses and validates (positive sizes, n_embd divisible by n_head, known activation).
  static GptBigCodeConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::gpt_bigcode
