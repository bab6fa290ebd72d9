#include "models/opt/weights.h"

#include "models/common/fused_weights.h"

#include <cstring>
#include <fmt/format.h>

namespace kiln::models::opt {
namespace {


}  // namespace

std::vector<WeightEntry> weight_map(const OptConfig& c, OptWeights& w, const std::string& hf_prefix,
                                    bool split_qkv) {
  const int64_t d = c.hidden_size, e = c.embed_dim(), f = c.ffn_dim;
  const bool affine = c.layer_norm_elementwise_affine, bias = c.enable_bias;
  std::vector<WeightEntry> m = {
      {"embed_tokens", "embed_tokens.weight", &w.embed_tokens, {c.vocab_size, e}, false},
      {"embed_positions", "embed_positions.weight", &w.embed_positions,
       {c.max_position_embeddings + OptConfig::kPositionOffset, d}, false},
  };
  if (c.has_projections()) {
    m.push_back({"project_in", "project_in.weight", &w.project_in, {d, e}, false});
    m.push_back({"project_out", "project_out.weight", &w.project_out, {e, d}, false});
  }
  w.layers.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    OptLayerWeights& l = w.layers[i];
    const std::string p = fmt::format("layers.{}.", i);  // same layer prefix in both namings
    auto add = [&](const std::string& kn, const std::string& hn, Tensor* t, Shape s) {
      m.push_back({p + kn, p + hn, t, std::move(s), false});
    };
    if (affine) {
      add("self_attn_layer_norm.weight", "self_attn_layer_norm.weight", &l.attn_ln_w, {d});
      add("self_attn_layer_norm.bias", "self_attn_layer_norm.bias", &l.attn_ln_b, {d});
    }
    if (split_qkv) {
      add("attn.q.weight", "self_attn.q_proj.weight", &l.q_w, {d, d});
      add("attn.k.weight", "self_attn.k_proj.weight", &l.k_w, {d, d});
      add("attn.v.weight", "self_attn.v_proj.weight", &l.v_w, {d, d});
      if (bias) {
        add("attn.q.bias", "self_attn.q_proj.bias", &l.q_b, {d});
        add("attn.k.bias", "self_attn.k_proj.bias", &l.k_b, {d});
        add("attn.v.bias", "self_attn.v_proj.bias", &l.v_b, {d});
      }
    } else {
      add("attn.qkv.weight", "", &l.qkv_w, {3 * d, d});
      if (bias) add("attn.qkv.bias", "", &l.qkv_b, {3 * d});
    }
    add("attn.out.weight", "self_attn.out_proj.weight", &l.out_w, {d, d});
    if (bias) add("attn.out.bias", "self_attn.out_proj.bias", &l.out_b, {d});
    if (affine) {
      add("final_layer_norm.weight", "final_layer_norm.weight", &l.ffn_ln_w, {d});
      add("final_layer_norm.bias", "final_layer_norm.bias", &l.ffn_ln_b, {d});
    }
    add("mlp.fc1.weight", "fc1.weight", &l.fc1_w, {f, d});
    if (bias) add("mlp.fc1.bias", "fc1.bias", &l.fc1_b, {f});
    add("mlp.fc2.weight", "fc2.weight", &l.fc2_w, {d, f});
    if (bias) add("mlp.fc2.bias", "fc2.bias", &l.fc2_b, {d});
  }
  if (c.has_final_layer_norm() && affine) {
    m.push_back({"final_layer_norm.weight", "final_layer_norm.weight", &w.final_ln_w, {d}, false});
    m.push_back({"final_layer_norm.bias", "final_layer_norm.bias", &w.final_ln_b, {d}, false});
  }
  for (WeightEntry& x : m) x.hf_name = hf_prefix + x.hf_name;
  if (!c.tie_word_embeddings)
    m.push_back({"lm_head", "lm_head.weight", &w.lm_head, {c.vocab_size, e}, false});
  return m;
}

void fuse_qkv(const OptConfig& c, OptWeights& w) {
  for (OptLayerWeights& l : w.layers) {
    l.qkv_w = cat_rows({&l.q_w, &l.k_w, &l.v_w});
    if (c.enable_bias) l.qkv_b = cat_rows({&l.q_b, &l.k_b, &l.v_b});
    l.q_w = l.k_w = l.v_w = l.q_b = l.k_b = l.v_b = Tensor();
  }
}

}  // namespace kiln::models::opt
