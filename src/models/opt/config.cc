#include "models/opt/config.h"

#include "core/check.h"
#include "models/common/config_fields.h"
#include "ops/activation_kind.h"

namespace kiln::models::opt {

OptConfig OptConfig::from_json(const io::JsonConfig& cfg) {
  OptConfig c;
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.hidden_size = cfg.get_or<int64_t>("hidden_size", c.hidden_size);
  c.num_hidden_layers = cfg.get_or<int64_t>("num_hidden_layers", c.num_hidden_layers);
  c.ffn_dim = cfg.get_or<int64_t>("ffn_dim", c.ffn_dim);
  c.max_position_embeddings =
      cfg.get_or<int64_t>("max_position_embeddings", c.max_position_embeddings);
  c.num_attention_heads = cfg.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.do_layer_norm_before = cfg.get_or<bool>("do_layer_norm_before", c.do_layer_norm_before);
  c.remove_final_layer_norm =
      cfg.get_or<bool>("_remove_final_layer_norm", c.remove_final_layer_norm);
  c.word_embed_proj_dim = cfg.get_or<int64_t>("word_embed_proj_dim", 0);
  c.activation_function = cfg.get_or<std::string>("activation_function", c.activation_function);
  c.enable_bias = cfg.get_or<bool>("enable_bias", c.enable_bias);
  c.layer_norm_elementwise_affine =
      cfg.get_or<bool>("layer_norm_elementwise_affine", c.layer_norm_elementwise_affine);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", c.tie_word_embeddings);
  c.pad_token_id = cfg.get_or<int64_t>("pad_token_id", c.pad_token_id);
  c.bos_token_id = cfg.get_or<int64_t>("bos_token_id", c.bos_token_id);
  if (cfg.json().contains("eos_token_id")) c.eos_token_id = cfg.get_int_or_list("eos_token_id");

  const std::string& src = cfg.source();
  check_positive(cfg, "vocab_size", c.vocab_size);
  check_positive(cfg, "hidden_size", c.hidden_size);
  check_positive(cfg, "num_hidden_layers", c.num_hidden_layers);
  check_positive(cfg, "ffn_dim", c.ffn_dim);
  check_positive(cfg, "max_position_embeddings", c.max_position_embeddings);
  check_positive(cfg, "num_attention_heads", c.num_attention_heads);
  KILN_CHECK(c.hidden_size % c.num_attention_heads == 0,
             "{}: hidden_size ({}) must be divisible by num_attention_heads ({})", src,
             c.hidden_size, c.num_attention_heads);
  KILN_CHECK(c.word_embed_proj_dim >= 0, "{}: word_embed_proj_dim must be positive or null, got {}",
             src, c.word_embed_proj_dim);
  ops::activation_from_name(c.activation_function);  // validates
  return c;
}

nlohmann::json OptConfig::to_json() const {
  return {{"model_type", "opt"},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"num_hidden_layers", num_hidden_layers},
          {"ffn_dim", ffn_dim},
          {"max_position_embeddings", max_position_embeddings},
          {"num_attention_heads", num_attention_heads},
          {"do_layer_norm_before", do_layer_norm_before},
          {"_remove_final_layer_norm", remove_final_layer_norm},
          {"word_embed_proj_dim", embed_dim()},
          {"activation_function", activation_function},
          {"enable_bias", enable_bias},
          {"layer_norm_elementwise_affine", layer_norm_elementwise_affine},
          {"tie_word_embeddings", tie_word_embeddings},
          {"pad_token_id", pad_token_id},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", int_or_list_json(eos_token_id)}};
}

}  // namespace kiln::models::opt
