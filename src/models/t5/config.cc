#include "models/t5/config.h"

#include <vector>

#include "core/check.h"
#include "models/common/config_fields.h"

namespace kiln::models::t5 {
namespace {

// A token id field: absent means dflt; present it must be an integer or null.
nlohmann::json token_id(const io::JsonConfig& cfg, const char* key, nlohmann::json dflt) {
  const nlohmann::json& j = cfg.json();
  if (!j.contains(key)) return dflt;
  if (j[key].is_null()) return nullptr;
  return cfg.get<int64_t>(key);
}

}  // namespace

const char* T5Config::model_type() const {
  switch (variant) {
    case T5Variant::kMT5:
      return "mt5";
    case T5Variant::kUMT5:
      return "umt5";
    default:
      return "t5";
  }
}

int32_t T5Config::decoder_start() const {
  for (const nlohmann::json* id : {&decoder_start_token_id, &bos_token_id, &pad_token_id})
    if (id->is_number_integer()) return id->get<int32_t>();
  return -1;  // unreachable: from_json rejects it
}

T5Config T5Config::from_json(const io::JsonConfig& cfg) {
  T5Config c;
  const std::string& src = cfg.source();
  const std::string type = cfg.get_or<std::string>("model_type", "t5");
  if (type == "mt5" || type == "umt5") {
    c.variant = type == "mt5" ? T5Variant::kMT5 : T5Variant::kUMT5;
    c.vocab_size = 250112;
    c.d_ff = 1024;
    c.num_layers = 8;
    c.num_heads = 6;
    c.feed_forward_proj = "gated-gelu";
    c.decoder_start_token_id = 0;
  } else {
    KILN_CHECK(type == "t5", "{}: model_type '{}' is not a T5 family type (t5, mt5, umt5)", src,
               type);
  }
  // HF attribute_map: hidden_size -> d_model, num_attention_heads -> num_heads,
  // num_hidden_layers -> num_layers, head_dim -> d_kv.
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.d_model = get_aliased(cfg, "d_model", "hidden_size", c.d_model);
  c.d_kv = get_aliased(cfg, "d_kv", "head_dim", c.d_kv);
  c.d_ff = cfg.get_or<int64_t>("d_ff", c.d_ff);
  c.num_layers = get_aliased(cfg, "num_layers", "num_hidden_layers", c.num_layers);
  c.num_decoder_layers = cfg.get_or<int64_t>("num_decoder_layers", 0);
  if (!cfg.has("num_decoder_layers")) c.num_decoder_layers = c.num_layers;
  c.num_heads = get_aliased(cfg, "num_heads", "num_attention_heads", c.num_heads);
  c.relative_attention_num_buckets =
      cfg.get_or<int64_t>("relative_attention_num_buckets", c.relative_attention_num_buckets);
  c.relative_attention_max_distance =
      cfg.get_or<int64_t>("relative_attention_max_distance", c.relative_attention_max_distance);
  c.layer_norm_epsilon = cfg.get_or<double>("layer_norm_epsilon", c.layer_norm_epsilon);
  c.feed_forward_proj = cfg.get_or<std::string>("feed_forward_proj", c.feed_forward_proj);
  c.n_positions = cfg.get_or<int64_t>("n_positions", c.n_positions);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", true);
  // 5.24: T5Config/UMT5Config set scale_decoder_outputs = (tie_word_embeddings is not False), then
  // an explicit scale_decoder_outputs in the file overrides it. MT5 never rescales.
  c.scale_decoder_outputs = c.variant != T5Variant::kMT5 &&
                            cfg.get_or<bool>("scale_decoder_outputs", c.tie_word_embeddings);
  c.pad_token_id = token_id(cfg, "pad_token_id", 0);
  c.bos_token_id = token_id(cfg, "bos_token_id", nullptr);
  c.decoder_start_token_id = token_id(cfg, "decoder_start_token_id", c.decoder_start_token_id);
  const nlohmann::json& j = cfg.json();
  if (j.contains("eos_token_id")) c.eos_token_id = j["eos_token_id"];
  cfg.get_int_or_list("eos_token_id");  // validates int | list | null

  check_positive(cfg, "vocab_size", c.vocab_size);
  check_positive(cfg, "d_model", c.d_model);
  check_positive(cfg, "d_kv", c.d_kv);
  check_positive(cfg, "d_ff", c.d_ff);
  check_positive(cfg, "num_layers", c.num_layers);
  check_positive(cfg, "num_decoder_layers", c.num_decoder_layers);
  check_positive(cfg, "num_heads", c.num_heads);
  check_positive(cfg, "n_positions", c.n_positions);
  KILN_CHECK(c.layer_norm_epsilon > 0, "{}: layer_norm_epsilon must be positive", src);
  const int64_t nb = c.relative_attention_num_buckets, md = c.relative_attention_max_distance;
  KILN_CHECK(nb >= 4,
             "{}: relative_attention_num_buckets must be at least 4 (the encoder's bidirectional "
             "buckets need an exact range), got {}",
             src, nb);
  KILN_CHECK(
      md > nb / 2,
      "{}: relative_attention_max_distance ({}) must exceed relative_attention_num_buckets "
      "/ 2 ({}), the decoder's exact range (HF's log-spaced buckets are undefined otherwise)",
      src, md, nb / 2);
  KILN_CHECK(md <= (1 << 20), "{}: relative_attention_max_distance {} is too large", src, md);

  // HF T5Config.__post_init__ / validate_architecture.
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t dash = c.feed_forward_proj.find('-', start);
    parts.push_back(c.feed_forward_proj.substr(start, dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  KILN_CHECK(!((parts.size() > 1 && parts[0] != "gated") || parts.size() > 2),
             "{}: feed_forward_proj '{}' is not a valid activation of the dense layer (expected "
             "'gated-ACT' or 'ACT', e.g. 'gated-gelu' or 'relu')",
             src, c.feed_forward_proj);
  c.dense_act_fn = parts.back();
  c.is_gated_act = parts[0] == "gated";
  if (c.feed_forward_proj == "gated-gelu") c.dense_act_fn = "gelu_new";
  try {
    c.act = ops::activation_from_name(c.dense_act_fn);
  } catch (const Error& e) {
    KILN_FAIL("{}: feed_forward_proj '{}': {}", src, c.feed_forward_proj, e.what());
  }
  KILN_CHECK(c.decoder_start_token_id.is_number_integer() || c.bos_token_id.is_number_integer() ||
                 c.pad_token_id.is_number_integer(),
             "{}: no decoder start token (decoder_start_token_id, bos_token_id and pad_token_id "
             "are all null)",
             src);
  KILN_CHECK(c.decoder_start() >= 0 && c.decoder_start() < c.vocab_size,
             "{}: decoder start token {} is outside the vocabulary ({})", src, c.decoder_start(),
             c.vocab_size);
  return c;
}

nlohmann::json T5Config::to_json() const {
  const char* arch = variant == T5Variant::kMT5    ? "MT5ForConditionalGeneration"
                     : variant == T5Variant::kUMT5 ? "UMT5ForConditionalGeneration"
                                                   : "T5ForConditionalGeneration";
  nlohmann::json j = {{"model_type", model_type()},
                      {"architectures", {arch}},
                      {"is_encoder_decoder", true},
                      {"vocab_size", vocab_size},
                      {"d_model", d_model},
                      {"d_kv", d_kv},
                      {"d_ff", d_ff},
                      {"num_layers", num_layers},
                      {"num_decoder_layers", decoder_layers()},
                      {"num_heads", num_heads},
                      {"relative_attention_num_buckets", relative_attention_num_buckets},
                      {"relative_attention_max_distance", relative_attention_max_distance},
                      {"layer_norm_epsilon", layer_norm_epsilon},
                      {"feed_forward_proj", feed_forward_proj},
                      {"n_positions", n_positions},
                      {"tie_word_embeddings", tie_word_embeddings},
                      {"pad_token_id", pad_token_id},
                      {"eos_token_id", eos_token_id},
                      {"bos_token_id", bos_token_id},
                      {"decoder_start_token_id", decoder_start_token_id}};
  if (variant != T5Variant::kMT5) j["scale_decoder_outputs"] = scale_decoder_outputs;
  return j;
}

}  // namespace kiln::models::t5
