#include "models/llama/config.h"

#include <cmath>

#include "core/check.h"
#include "models/common/config_fields.h"
#include "ops/activation_kind.h"

namespace kiln::models::llama {
namespace {

// The standardized rope_parameters dict (HF convert_rope_params_to_dict + standardize_rope_params).
nlohmann::json standardize_rope(const io::JsonConfig& cfg, int64_t max_position_embeddings) {
  const nlohmann::json& j = cfg.json();
  nlohmann::json rp = nlohmann::json::object();
  // rope_scaling (legacy) wins when non-empty, as HF's `rope_scaling or rope_parameters`.
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object() && !j["rope_scaling"].empty())
    rp = j["rope_scaling"];
  else if (j.contains("rope_parameters") && j["rope_parameters"].is_object())
    rp = j["rope_parameters"];
  KILN_CHECK(!j.contains("rope_scaling") || j["rope_scaling"].is_null() ||
                 j["rope_scaling"].is_object(),
             "{}: rope_scaling must be an object or null", cfg.source());
  if (!rp.contains("rope_theta") || rp["rope_theta"].is_null())
    rp["rope_theta"] = cfg.has("rope_theta") ? j["rope_theta"] : nlohmann::json(10000.0);
  if (cfg.has("partial_rotary_factor") && !rp.contains("partial_rotary_factor"))
    rp["partial_rotary_factor"] = j["partial_rotary_factor"];
  if (!rp.contains("rope_type"))
    rp["rope_type"] = rp.contains("type") ? rp["type"] : nlohmann::json("default");
  const std::string type = rp["rope_type"].get<std::string>();
  if ((type == "llama3" || type == "yarn" || type == "longrope") &&
      !rp.contains("original_max_position_embeddings"))
    rp["original_max_position_embeddings"] = max_position_embeddings;
  return rp;
}

}  // namespace

int64_t LlamaConfig::max_positions() const {
  if (rope.type == "dynamic" && rope.factor > 1)
    return static_cast<int64_t>(std::floor(rope.factor * static_cast<double>(max_position_embeddings)));
  return max_position_embeddings;
}

LlamaConfig LlamaConfig::from_json(const io::JsonConfig& cfg) {
  LlamaConfig c;
  const std::string& src = cfg.source();
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.hidden_size = cfg.get_or<int64_t>("hidden_size", c.hidden_size);
  c.intermediate_size = cfg.get_or<int64_t>("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = cfg.get_or<int64_t>("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = cfg.get_or<int64_t>("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = cfg.get_or<int64_t>("num_key_value_heads", 0);
  c.head_dim = cfg.get_or<int64_t>("head_dim", 0);
  c.hidden_act = cfg.get_or<std::string>("hidden_act", c.hidden_act);
  c.max_position_embeddings =
      cfg.get_or<int64_t>("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = cfg.get_or<double>("rms_norm_eps", c.rms_norm_eps);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", c.tie_word_embeddings);
  c.attention_bias = cfg.get_or<bool>("attention_bias", c.attention_bias);
  c.mlp_bias = cfg.get_or<bool>("mlp_bias", c.mlp_bias);
  const nlohmann::json& j = cfg.json();
  if (j.contains("bos_token_id")) c.bos_token_id = j["bos_token_id"];
  if (j.contains("eos_token_id")) c.eos_token_id = j["eos_token_id"];
  if (j.contains("pad_token_id")) c.pad_token_id = j["pad_token_id"];
  cfg.get_int_or_list("eos_token_id");  // validates int | list | null

  check_positive(cfg, "vocab_size", c.vocab_size);
  KILN_CHECK(c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 &&
                 c.num_attention_heads > 0 && c.max_position_embeddings > 0,
             "{}: sizes must be positive", src);
  // HF's validate_architecture checks this even when head_dim is given.
  KILN_CHECK(c.hidden_size % c.num_attention_heads == 0,
             "{}: hidden_size ({}) must be divisible by num_attention_heads ({})", src,
             c.hidden_size, c.num_attention_heads);
  KILN_CHECK(c.kv_heads() > 0 && c.num_attention_heads % c.kv_heads() == 0,
             "{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", src,
             c.num_attention_heads, c.kv_heads());
  KILN_CHECK(c.head_size() > 0 && c.head_size() % 2 == 0,
             "{}: head_dim must be even for rotary embeddings, got {}", src, c.head_size());
  KILN_CHECK(c.rms_norm_eps > 0, "{}: rms_norm_eps must be positive", src);
  ops::activation_from_name(c.hidden_act);  // validates

  // RoPE.
  c.rope_parameters = standardize_rope(cfg, c.max_position_embeddings);
  const io::JsonConfig rp = io::JsonConfig::from_json(c.rope_parameters, src + ":rope_parameters");
  layers::RopeConfig& r = c.rope;
  r.type = rp.get<std::string>("rope_type");
  r.theta = rp.get<double>("rope_theta");
  r.dim = static_cast<int>(c.head_size());
  r.max_position_embeddings = c.max_position_embeddings;
  const double prf = rp.get_or<double>("partial_rotary_factor", 1.0);
  KILN_CHECK(r.type != "longrope" && r.type != "proportional",
             "{}: rope_type '{}' is not supported for llama (supported: default, linear, dynamic, "
             "llama3, yarn)",
             src, r.type);
  if (r.type != "default") {
    KILN_CHECK(static_cast<int64_t>(static_cast<double>(c.head_size()) * prf) == c.head_size(),
               "{}: partial_rotary_factor {} with rope_type '{}': HF's LLaMA cannot run this "
               "(its cos/sin would be shorter than the head)",
               src, prf, r.type);
    // HF requires the key; yarn alone accepts null (max_position_embeddings / original).
    const bool yarn_null = r.type == "yarn" && c.rope_parameters.contains("factor") &&
                           c.rope_parameters["factor"].is_null();
    r.factor = yarn_null ? 0.0 : rp.get<double>("factor");
  }
  KILN_CHECK(r.theta > 0, "{}: rope_theta must be positive", src);
  if (r.type == "llama3" || r.type == "yarn") {
    r.original_max_position_embeddings = rp.get<int64_t>("original_max_position_embeddings");
    KILN_CHECK(r.original_max_position_embeddings > 0,
               "{}: original_max_position_embeddings must be positive", src);
  }
  if (r.type == "llama3") {
    r.low_freq_factor = rp.get<double>("low_freq_factor");
    r.high_freq_factor = rp.get<double>("high_freq_factor");
  }
  if (r.type == "yarn") {
    if (r.factor == 0)
      r.factor = static_cast<double>(c.max_position_embeddings) /
                 static_cast<double>(r.original_max_position_embeddings);
    const auto opt = [&](const char* k) -> std::optional<double> {
      return rp.has(k) ? std::optional<double>(rp.get<double>(k)) : std::nullopt;
    };
    r.attention_factor = opt("attention_factor");
    r.mscale = opt("mscale");
    r.mscale_all_dim = opt("mscale_all_dim");
    r.beta_fast = opt("beta_fast");
    r.beta_slow = opt("beta_slow");
    r.truncate = rp.get_or<bool>("truncate", true);
  }
  layers::rope_inv_freq(r);  // validates the type
  return c;
}

nlohmann::json LlamaConfig::to_json() const {
  return {{"model_type", "llama"},
          {"architectures", {"LlamaForCausalLM"}},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"intermediate_size", intermediate_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"num_key_value_heads", kv_heads()},
          {"head_dim", head_size()},
          {"hidden_act", hidden_act},
          {"max_position_embeddings", max_position_embeddings},
          {"rms_norm_eps", rms_norm_eps},
          {"tie_word_embeddings", tie_word_embeddings},
          {"attention_bias", attention_bias},
          {"mlp_bias", mlp_bias},
          {"bos_token_id", bos_token_id},
          {"eos_token_id", eos_token_id},
          {"pad_token_id", pad_token_id},
          {"rope_parameters", rope_parameters}};
}

}  // namespace kiln::models::llama
