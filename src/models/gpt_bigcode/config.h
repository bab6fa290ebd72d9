// GPTBigCode (SantaCoder / StarCoder) config: every GPTBigCodeConfig field that changes inference,
// with HF's defaults. attention_softmax_in_fp32 / scale_attention_softmax_in_fp32 only matter for
// 16-bit compute, where kiln's softmax is always fp32; they are kept for round-tripping.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"
#include "models/common/config_fields.h"

namespace kiln::models::gpt_bigcode {

struct GptBigCodeConfig : GptFields {
  static constexpr const char* kModelType = "gpt_bigcode";
  bool attention_softmax_in_fp32 = true;
  bool scale_attention_softmax_in_fp32 = true;
  bool multi_query = true;  // one K/V head shared by all query heads
  std::vector<int64_t> eos_token_id = {50256};

  GptBigCodeConfig() { activation_function = "gelu_pytorch_tanh"; }
  int64_t kv_heads() const { return multi_query ? 1 : n_head; }
  // HF: scores / sqrt(head_dim) if scale_attn_weights (every layer alike).
  float attention_scale(int64_t layer) const;

  // Parses and validates (read_gpt_fields, then GPTBigCode's own fields).
  static GptBigCodeConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::gpt_bigcode
