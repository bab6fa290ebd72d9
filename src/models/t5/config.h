// T5 family config (HF model_type t5, mt5, umt5): every field T5Config / MT5Config / UMT5Config
// honour at inference in transformers 5.24, with each class's defaults (mT5 and UMT5 default to a
// larger vocabulary and gated-gelu). Decisions, each following what transformers 5.24 does:
// - feed_forward_proj is "ACT" or "gated-ACT" (dense_act_fn = ACT; "gated-gelu" means gelu_new);
//   anything else is rejected as HF's validate_architecture does.
// - LM-head rescale (decoder output x d_model^-0.5): t5 and umt5 rescale when the config's
//   scale_decoder_outputs says so, else unless tie_word_embeddings is false; mt5 never rescales
//   (MT5ForConditionalGeneration has no rescale in 5.24). Whether the LM head is tied is not a
//   config matter in 5.24 (tie_word_embeddings is forced true): the head is lm_head.weight when
//   the checkpoint stores it, else the shared embedding (models/t5/weights.h).
// - Relative attention bias: a config whose buckets HF cannot compute (fewer than 4 buckets, or
//   relative_attention_max_distance <= num_buckets / 2, where HF's log-spaced buckets divide by
//   zero or go negative) is rejected.
// - Longest input: T5 has no learned positions; n_positions (default 512) bounds both the
//   encoder input and the decoder sequence.
// - decoder_start_token_id: the config's, else bos_token_id, else pad_token_id (T5's
//   documented start token).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/json_config.h"
#include "ops/activation_kind.h"

namespace kiln::models::t5 {

enum class T5Variant { kT5, kMT5, kUMT5 };

struct T5Config {
  T5Variant variant = T5Variant::kT5;
  int64_t vocab_size = 32128;
  int64_t d_model = 512;
  int64_t d_kv = 64;
  int64_t d_ff = 2048;
  int64_t num_layers = 6;          // encoder blocks
  int64_t num_decoder_layers = 0;  // 0 (HF: None) means num_layers
  int64_t num_heads = 8;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";
  int64_t n_positions = 512;
  bool scale_decoder_outputs = true;  // resolved as described above
  bool tie_word_embeddings = true;    // as read (kept for to_json); does not decide the head
  nlohmann::json pad_token_id = 0;
  nlohmann::json eos_token_id = 1;  // int, list or null
  nlohmann::json bos_token_id = nullptr;
  nlohmann::json decoder_start_token_id = nullptr;  // as read (null: see decoder_start())

  // Parsed from feed_forward_proj.
  std::string dense_act_fn = "relu";
  bool is_gated_act = false;
  ops::ActivationKind act = ops::ActivationKind::kRelu;

  const char* model_type() const;
  int64_t decoder_layers() const {
    return num_decoder_layers > 0 ? num_decoder_layers : num_layers;
  }
  int64_t inner_dim() const { return num_heads * d_kv; }
  // UMT5: every self-attention has its own bias table; T5/mT5: only block 0 of each stack.
  bool bias_per_layer() const { return variant == T5Variant::kUMT5; }
  int32_t decoder_start() const;

  // cfg["model_type"] picks the variant (and its defaults); absent means t5.
  static T5Config from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF field names
};

}  // namespace kiln::models::t5
