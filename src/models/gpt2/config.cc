#include "models/gpt2/config.h"

#include <cmath>

#include "models/common/config_fields.h"

namespace kiln::models::gpt2 {

Gpt2Config Gpt2Config::from_json(const io::JsonConfig& cfg) {
  Gpt2Config c;
  // get_aliased: HF's GPT2Config.attribute_map aliases.
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.n_positions = get_aliased(cfg, "n_positions", "max_position_embeddings", c.n_positions);
  c.n_embd = get_aliased(cfg, "n_embd", "hidden_size", c.n_embd);
  c.n_layer = get_aliased(cfg, "n_layer", "num_hidden_layers", c.n_layer);
  c.n_head = get_aliased(cfg, "n_head", "num_attention_heads", c.n_head);
  c.n_inner = cfg.get_or<int64_t>("n_inner", 0);
  c.activation_function = cfg.get_or<std::string>("activation_function", c.activation_function);
  c.layer_norm_epsilon = cfg.get_or<double>("layer_norm_epsilon", c.layer_norm_epsilon);
  c.scale_attn_weights = cfg.get_or<bool>("scale_attn_weights", c.scale_attn_weights);
  c.scale_attn_by_inverse_layer_idx =
      cfg.get_or<bool>("scale_attn_by_inverse_layer_idx", c.scale_attn_by_inverse_layer_idx);
  c.reorder_and_upcast_attn =
      cfg.get_or<bool>("reorder_and_upcast_attn", c.reorder_and_upcast_attn);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", c.tie_word_embeddings);
  c.bos_token_id = cfg.get_or<int64_t>("bos_token_id", c.bos_token_id);
  c.eos_token_id = cfg.get_or<int64_t>("eos_token_id", c.eos_token_id);

  check_gpt_shape(cfg,
                  {c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head, c.n_inner,
                   c.layer_norm_epsilon, c.activation_function},
                  "GPT-2");
  return c;
}

nlohmann::json Gpt2Config::to_json() const {
  return {{"model_type", "gpt2"},
          {"vocab_size", vocab_size},
          {"n_positions", n_positions},
          {"n_embd", n_embd},
          {"n_layer", n_layer},
          {"n_head", n_head},
          {"n_inner", n_inner > 0 ? nlohmann::json(n_inner) : nlohmann::json(nullptr)},
          {"activation_function", activation_function},
          {"layer_norm_epsilon", layer_norm_epsilon},
          {"scale_attn_weights", scale_attn_weights},
          {"scale_attn_by_inverse_layer_idx", scale_attn_by_inverse_layer_idx},
          {"reorder_and_upcast_attn", reorder_and_upcast_attn},
          {"tie_word_embeddings", tie_word_embeddings},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id}};
}

float Gpt2Config::attention_scale(int64_t layer) const {
  float scale = scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(head_dim())) : 1.f;
  if (scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(layer + 1);
  return scale;
}

}  // namespace kiln::models::gpt2
