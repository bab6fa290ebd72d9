#include "models/common/config_fields.h"

#include "core/check.h"
#include "ops/activation_kind.h"

namespace kiln::models {

int64_t get_aliased(const io::JsonConfig& cfg, const char* key, const char* alias, int64_t dflt) {
  if (cfg.has(key)) return cfg.get<int64_t>(key);
  return cfg.get_or<int64_t>(alias, dflt);
}

void check_positive(const io::JsonConfig& cfg, const char* name, int64_t value) {
  KILN_CHECK(value > 0, "{}: {} must be positive, got {}", cfg.source(), name, value);
}

void read_gpt_fields(const io::JsonConfig& cfg, GptFields& f, const char* family) {
  f.vocab_size = cfg.get_or<int64_t>("vocab_size", f.vocab_size);
  f.n_positions = get_aliased(cfg, "n_positions", "max_position_embeddings", f.n_positions);
  f.n_embd = get_aliased(cfg, "n_embd", "hidden_size", f.n_embd);
  f.n_layer = get_aliased(cfg, "n_layer", "num_hidden_layers", f.n_layer);
  f.n_head = get_aliased(cfg, "n_head", "num_attention_heads", f.n_head);
  f.n_inner = cfg.get_or<int64_t>("n_inner", 0);
  f.activation_function = cfg.get_or<std::string>("activation_function", f.activation_function);
  f.layer_norm_epsilon = cfg.get_or<double>("layer_norm_epsilon", f.layer_norm_epsilon);
  f.scale_attn_weights = cfg.get_or<bool>("scale_attn_weights", f.scale_attn_weights);
  f.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", f.tie_word_embeddings);
  f.bos_token_id = cfg.get_or<int64_t>("bos_token_id", f.bos_token_id);

  const std::string& src = cfg.source();
  check_positive(cfg, "vocab_size", f.vocab_size);
  check_positive(cfg, "n_positions", f.n_positions);
  check_positive(cfg, "n_embd", f.n_embd);
  check_positive(cfg, "n_layer", f.n_layer);
  check_positive(cfg, "n_head", f.n_head);
  KILN_CHECK(f.n_embd % f.n_head == 0, "{}: n_embd ({}) must be divisible by n_head ({})", src,
             f.n_embd, f.n_head);
  KILN_CHECK(f.n_inner >= 0, "{}: n_inner must be positive or null, got {}", src, f.n_inner);
  KILN_CHECK(f.layer_norm_epsilon > 0, "{}: layer_norm_epsilon must be positive", src);
  KILN_CHECK(!cfg.get_or<bool>("add_cross_attention", false),
             "{}: add_cross_attention=true ({} as a decoder of an encoder-decoder) is not "
             "supported by the {} LM path",
             src, family, family);
  ops::activation_from_name(f.activation_function);  // validates
}

nlohmann::json gpt_fields_json(const GptFields& f) {
  return {{"vocab_size", f.vocab_size},
          {"n_positions", f.n_positions},
          {"n_embd", f.n_embd},
          {"n_layer", f.n_layer},
          {"n_head", f.n_head},
          {"n_inner", f.n_inner > 0 ? nlohmann::json(f.n_inner) : nlohmann::json(nullptr)},
          {"activation_function", f.activation_function},
          {"layer_norm_epsilon", f.layer_norm_epsilon},
          {"scale_attn_weights", f.scale_attn_weights},
          {"tie_word_embeddings", f.tie_word_embeddings},
          {"bos_token_id", f.bos_token_id}};
}

nlohmann::json int_or_list_json(const std::vector<int64_t>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

}  // namespace kiln::models
