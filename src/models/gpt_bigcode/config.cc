#include "models/gpt_bigcode/config.h"

#include <cmath>

#include "models/common/config_fields.h"

namespace kiln::models::gpt_bigcode {

GptBigCodeConfig GptBigCodeConfig::from_json(const io::JsonConfig& cfg) {
  GptBigCodeConfig c;
  // get_aliased: HF's GPTBigCodeConfig.attribute_map aliases.
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.n_positions = get_aliased(cfg, "n_positions", "max_position_embeddings", c.n_positions);
  c.n_embd = get_aliased(cfg, "n_embd", "hidden_size", c.n_embd);
  c.n_layer = get_aliased(cfg, "n_layer", "num_hidden_layers", c.n_layer);
  c.n_head = get_aliased(cfg, "n_head", "num_attention_heads", c.n_head);
  c.n_inner = cfg.get_or<int64_t>("n_inner", 0);
  c.activation_function = cfg.get_or<std::string>("activation_function", c.activation_function);
  c.layer_norm_epsilon = cfg.get_or<double>("layer_norm_epsilon", c.layer_norm_epsilon);
  c.scale_attn_weights = cfg.get_or<bool>("scale_attn_weights", c.scale_attn_weights);
  c.attention_softmax_in_fp32 =
      cfg.get_or<bool>("attention_softmax_in_fp32", c.attention_softmax_in_fp32);
  c.scale_attention_softmax_in_fp32 =
      cfg.get_or<bool>("scale_attention_softmax_in_fp32", c.scale_attention_softmax_in_fp32);
  c.multi_query = cfg.get_or<bool>("multi_query", c.multi_query);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", c.tie_word_embeddings);
  c.bos_token_id = cfg.get_or<int64_t>("bos_token_id", c.bos_token_id);
  if (cfg.json().contains("eos_token_id")) c.eos_token_id = cfg.get_int_or_list("eos_token_id");

  check_gpt_shape(cfg,
                  {c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head, c.n_inner,
                   c.layer_norm_epsilon, c.activation_function},
                  "GPTBigCode");
  return c;
}

nlohmann::json GptBigCodeConfig::to_json() const {
  return {{"model_type", "gpt_bigcode"},
          {"vocab_size", vocab_size},
          {"n_positions", n_positions},
          {"n_embd", n_embd},
          {"n_layer", n_layer},
          {"n_head", n_head},
          {"n_inner", n_inner > 0 ? nlohmann::json(n_inner) : nlohmann::json(nullptr)},
          {"activation_function", activation_function},
          {"layer_norm_epsilon", layer_norm_epsilon},
          {"scale_attn_weights", scale_attn_weights},
          {"attention_softmax_in_fp32", attention_softmax_in_fp32},
          {"scale_attention_softmax_in_fp32", scale_attention_softmax_in_fp32},
          {"multi_query", multi_query},
          {"tie_word_embeddings", tie_word_embeddings},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", int_or_list_json(eos_token_id)}};
}

float GptBigCodeConfig::attention_scale(int64_t /*layer*/) const {
  return scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(head_dim())) : 1.f;
}

}  // namespace kiln::models::gpt_bigcode
