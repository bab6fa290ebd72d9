#include "models/gpt_bigcode/config.h"

#include <cmath>

#include "models/common/config_fields.h"

namespace kiln::models::gpt_bigcode {

GptBigCodeConfig GptBigCodeConfig::from_json(const io::JsonConfig& cfg) {
  GptBigCodeConfig c;
  read_gpt_fields(cfg, c, "GPTBigCode");
  c.attention_softmax_in_fp32 =
      cfg.get_or<bool>("attention_softmax_in_fp32", c.attention_softmax_in_fp32);
  c.scale_attention_softmax_in_fp32 =
      cfg.get_or<bool>("scale_attention_softmax_in_fp32", c.scale_attention_softmax_in_fp32);
  c.multi_query = cfg.get_or<bool>("multi_query", c.multi_query);
  if (cfg.json().contains("eos_token_id")) c.eos_token_id = cfg.get_int_or_list("eos_token_id");
  return c;
}

nlohmann::json GptBigCodeConfig::to_json() const {
  nlohmann::json j = gpt_fields_json(*this);
  j["model_type"] = kModelType;
  j["attention_softmax_in_fp32"] = attention_softmax_in_fp32;
  j["scale_attention_softmax_in_fp32"] = scale_attention_softmax_in_fp32;
  j["multi_query"] = multi_query;
  j["eos_token_id"] = int_or_list_json(eos_token_id);
  return j;
}

float GptBigCodeConfig::attention_scale(int64_t /*layer*/) const {
  return scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(head_dim())) : 1.f;
}

}  // namespace kiln::models::gpt_bigcode
