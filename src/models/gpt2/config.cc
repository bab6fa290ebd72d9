#include "models/gpt2/config.h"

#include <cmath>

#include "models/common/config_fields.h"

namespace kiln::models::gpt2 {

Gpt2Config Gpt2Config::from_json(const io::JsonConfig& cfg) {
  Gpt2Config c;
  read_gpt_fields(cfg, c, "GPT-2");
  c.scale_attn_by_inverse_layer_idx =
      cfg.get_or<bool>("scale_attn_by_inverse_layer_idx", c.scale_attn_by_inverse_layer_idx);
  c.reorder_and_upcast_attn =
      cfg.get_or<bool>("reorder_and_upcast_attn", c.reorder_and_upcast_attn);
  c.eos_token_id = cfg.get_or<int64_t>("eos_token_id", c.eos_token_id);
  return c;
}

nlohmann::json Gpt2Config::to_json() const {
  nlohmann::json j = gpt_fields_json(*this);
  j["model_type"] = kModelType;
  j["scale_attn_by_inverse_layer_idx"] = scale_attn_by_inverse_layer_idx;
  j["reorder_and_upcast_attn"] = reorder_and_upcast_attn;
  j["eos_token_id"] = eos_token_id;
  return j;
}

float Gpt2Config::attention_scale(int64_t layer) const {
  float scale = scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(head_dim())) : 1.f;
  if (scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(layer + 1);
  return scale;
}

}  // namespace kiln::models::gpt2
