// GPT-2 config: every GPT2Config field that changes inference, with HF's defaults. Dropout,
// initializer and summary fields are read by HF for training/heads and have no effect here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/json_config.h"
#include "models/common/config_fields.h"

namespace kiln::models::gpt2 {

struct Gpt2Config : GptFields {
  static constexpr const char* kModelType = "gpt2";
  bool scale_attn_by_inverse_layer_idx = false;
  bool reorder_and_upcast_attn = false;  // fp32 attention math; the CPU path is fp32 throughout
  int64_t eos_token_id = 50256;

  Gpt2Config() { activation_function = "gelu_new"; }
  int64_t kv_heads() const { return n_head; }
  // HF: scores / sqrt(head_dim) if scale_attn_weights, and / (layer + 1) if
  // scale_attn_by_inverse_layer_idx.
  float attention_scale(int64_t layer) const;

  // Parses and validates (read_gpt_fields, then GPT-2's own fields).
  static Gpt2Config from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::gpt2
