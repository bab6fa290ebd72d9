// OPT config: every OPTConfig field that changes inference, with HF's defaults. Dropout,
// layerdrop and initializer fields are training-only. LayerNorms use PyTorch's eps (1e-5): OPT has
// no eps field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"

namespace kiln::models::opt {

struct OptConfig {
  int64_t vocab_size = 50272;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t ffn_dim = 3072;
  int64_t max_position_embeddings = 2048;
  int64_t num_attention_heads = 12;
  bool do_layer_norm_before = true;   // false: post-LN blocks (opt-350m)
  bool remove_final_layer_norm = false;  // HF `_remove_final_layer_norm`
  int64_t word_embed_proj_dim = 0;    // 0 (HF: None) means hidden_size
  std::string activation_function = "relu";
  bool enable_bias = true;                    // biases of q/k/v/out_proj, fc1, fc2
  bool layer_norm_elementwise_affine = true;  // false: LayerNorms without weight and bias
  bool tie_word_embeddings = true;
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 2;
  std::vector<int64_t> eos_token_id = {2};

  static constexpr float kLayerNormEps = 1e-5f;
  static constexpr int64_t kPositionOffset = 2;  // OPTLearnedPositionalEmbedding.offset

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t embed_dim() const { return word_embed_proj_dim > 0 ? word_embed_proj_dim : hidden_size; }
  bool has_projections() const { return embed_dim() != hidden_size; }  // project_in/project_out
  bool has_final_layer_norm() const { return do_layer_norm_before && !remove_final_layer_norm; }

  // Parses and validates (positive sizes, hidden divisible by heads, known activation).
  static OptConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::opt
