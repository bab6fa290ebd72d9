#include "models/gpt_next/config.h"

#include "core/check.h"

namespace kiln::models::gpt_next {

GptNextConfig GptNextConfig::from_json(const io::JsonConfig& cfg) {
  GptNextConfig c;
  const std::string& src = cfg.source();
  c.vocab_size = cfg.get<int64_t>("vocab_size");
  c.hidden_size = cfg.get<int64_t>("hidden_size");
  c.ffn_hidden_size = cfg.get<int64_t>("ffn_hidden_size");
  c.num_layers = cfg.get<int64_t>("num_layers");
  c.num_attention_heads = cfg.get<int64_t>("num_attention_heads");
  c.num_query_groups = cfg.get_or<int64_t>("num_query_groups", 0);
  c.kv_channels = cfg.get_or<int64_t>("kv_channels", 0);
  c.normalization = cfg.get_or<std::string>("normalization", c.normalization);
  c.layernorm_epsilon = cfg.get_or<double>("layernorm_epsilon", c.layernorm_epsilon);
  c.activation = cfg.get_or<std::string>("activation", c.activation);
  c.rotary_percentage = cfg.get_or<double>("rotary_percentage", c.rotary_percentage);
  c.rotary_base = cfg.get_or<double>("rotary_base", c.rotary_base);
  c.seq_len_interpolation_factor = cfg.get_or<double>("seq_len_interpolation_factor", 0.0);
  c.max_position_embeddings = cfg.get<int64_t>("max_position_embeddings");
  c.share_embeddings_and_output_weights =
      cfg.get_or<bool>("share_embeddings_and_output_weights", true);
  const nlohmann::json& j = cfg.json();
  if (j.contains("bos_token_id")) c.bos_token_id = j["bos_token_id"];
  if (j.contains("eos_token_id")) c.eos_token_id = j["eos_token_id"];
  if (j.contains("pad_token_id")) c.pad_token_id = j["pad_token_id"];
  cfg.get_int_or_list("eos_token_id");  // validates int | list | null

  KILN_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.ffn_hidden_size > 0 && c.num_layers > 0 &&
                 c.num_attention_heads > 0 && c.max_position_embeddings > 0,
             "{}: sizes must be positive", src);
  KILN_CHECK(c.kv_channels > 0 || c.hidden_size % c.num_attention_heads == 0,
             "{}: hidden_size ({}) must be divisible by num_attention_heads ({}) without "
             "kv_channels",
             src, c.hidden_size, c.num_attention_heads);
  KILN_CHECK(c.kv_heads() > 0 && c.num_attention_heads % c.kv_heads() == 0,
             "{}: num_attention_heads ({}) must be a multiple of num_query_groups ({})", src,
             c.num_attention_heads, c.kv_heads());
  KILN_CHECK(c.normalization == "layernorm" || c.normalization == "layernorm1p" ||
                 c.normalization == "rmsnorm",
             "{}: normalization '{}' is not supported (layernorm, layernorm1p, rmsnorm)", src,
             c.normalization);
  KILN_CHECK(c.layernorm_epsilon > 0, "{}: layernorm_epsilon must be positive", src);
  KILN_CHECK(c.activation == "swiglu" || c.activation == "fast-swiglu",
             "{}: activation '{}' is not supported (swiglu)", src, c.activation);
  KILN_CHECK(!cfg.get_or<bool>("bias", false), "{}: linear biases are not supported", src);
  KILN_CHECK(cfg.get_or<std::string>("position_embedding_type", "rope") == "rope",
             "{}: position_embedding_type must be 'rope'", src);
  KILN_CHECK(c.rotary_base > 0, "{}: rotary_base must be positive", src);
  KILN_CHECK(c.seq_len_interpolation_factor >= 0, "{}: seq_len_interpolation_factor must be "
             "positive", src);
  // Megatron: rot_dim = int(kv_channels * rotary_percentage) (Python float product, truncated).
  const int rot = static_cast<int>(static_cast<double>(c.head_dim()) * c.rotary_percentage);
  KILN_CHECK(c.rotary_percentage > 0 && c.rotary_percentage <= 1 && rot >= 2 && rot % 2 == 0,
             "{}: rotary_percentage {} gives {} rotary dims of {}: must be a positive even number",
             src, c.rotary_percentage, rot, c.head_dim());
  layers::RopeConfig& r = c.rope;
  r.theta = c.rotary_base;
  r.dim = rot;
  r.max_position_embeddings = c.max_position_embeddings;
  if (c.seq_len_interpolation_factor > 0 && c.seq_len_interpolation_factor != 1) {
    r.type = "linear";  // positions / factor == inv_freq / factor
    r.factor = c.seq_len_interpolation_factor;
  }
  layers::rope_inv_freq(r);  // validates
  return c;
}

nlohmann::json GptNextConfig::to_json() const {
  return {{"model_type", "gpt_next"},
          {"architectures", {"MegatronGPTModel"}},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"ffn_hidden_size", ffn_hidden_size},
          {"num_layers", num_layers},
          {"num_attention_heads", num_attention_heads},
          {"num_query_groups", kv_heads()},
          {"kv_channels", head_dim()},
          {"normalization", normalization},
          {"layernorm_epsilon", layernorm_epsilon},
          {"activation", activation},
          {"bias", false},
          {"position_embedding_type", "rope"},
          {"rotary_percentage", rotary_percentage},
          {"rotary_base", rotary_base},
          {"seq_len_interpolation_factor", seq_len_interpolation_factor > 0
                                               ? nlohmann::json(seq_len_interpolation_factor)
                                               : nlohmann::json(nullptr)},
          {"max_position_embeddings", max_position_embeddings},
          {"share_embeddings_and_output_weights", share_embeddings_and_output_weights},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id},
          {"pad_token_id", pad_token_id}};
}

}  // namespace kiln::models::gpt_next
