#include "models/common/gpt_weights.h"

#include <fmt/format.h>

namespace kiln::models {

GptShape gpt_shape(const GptFields& c, int64_t kv_heads, bool hf_transposed) {
  return {.vocab_size = c.vocab_size,
          .n_positions = c.n_positions,
          .n_embd = c.n_embd,
          .n_layer = c.n_layer,
          .inner = c.inner(),
          .qkv_rows = c.n_embd + 2 * kv_heads * c.head_dim(),
          .tie_word_embeddings = c.tie_word_embeddings,
          .hf_transposed = hf_transposed};
}

std::vector<WeightEntry> gpt_weight_map(const GptShape& s, GptWeights& w,
                                        const std::string& hf_prefix) {
  const int64_t d = s.n_embd, inner = s.inner, qkv = s.qkv_rows;
  const bool t = s.hf_transposed;
  std::vector<WeightEntry> m = {
      {"wte", "wte.weight", &w.wte, {s.vocab_size, d}, false},
      {"wpe", "wpe.weight", &w.wpe, {s.n_positions, d}, false},
      {"ln_f.weight", "ln_f.weight", &w.ln_f_w, {d}, false},
      {"ln_f.bias", "ln_f.bias", &w.ln_f_b, {d}, false},
  };
  w.layers.resize(s.n_layer);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    GptLayerWeights& l = w.layers[i];
    const std::string k = fmt::format("layers.{}.", i), h = fmt::format("h.{}.", i);
    const std::vector<WeightEntry> layer = {
        {k + "ln_1.weight", h + "ln_1.weight", &l.ln_1_w, {d}, false},
        {k + "ln_1.bias", h + "ln_1.bias", &l.ln_1_b, {d}, false},
        {k + "attn.qkv.weight", h + "attn.c_attn.weight", &l.qkv_w, {qkv, d}, t},
        {k + "attn.qkv.bias", h + "attn.c_attn.bias", &l.qkv_b, {qkv}, false},
        {k + "attn.out.weight", h + "attn.c_proj.weight", &l.attn_out_w, {d, d}, t},
        {k + "attn.out.bias", h + "attn.c_proj.bias", &l.attn_out_b, {d}, false},
        {k + "ln_2.weight", h + "ln_2.weight", &l.ln_2_w, {d}, false},
        {k + "ln_2.bias", h + "ln_2.bias", &l.ln_2_b, {d}, false},
        {k + "mlp.fc.weight", h + "mlp.c_fc.weight", &l.fc_w, {inner, d}, t},
        {k + "mlp.fc.bias", h + "mlp.c_fc.bias", &l.fc_b, {inner}, false},
        {k + "mlp.proj.weight", h + "mlp.c_proj.weight", &l.proj_w, {d, inner}, t},
        {k + "mlp.proj.bias", h + "mlp.c_proj.bias", &l.proj_b, {d}, false},
    };
    m.insert(m.end(), layer.begin(), layer.end());
  }
  for (WeightEntry& e : m) e.hf_name = hf_prefix + e.hf_name;
  if (!s.tie_word_embeddings)
    m.push_back({"lm_head", "lm_head.weight", &w.lm_head, {s.vocab_size, d}, false});
  return m;
}

}  // namespace kiln::models
