#include "models/gpt_bigcode/weights.h"

#include <cstring>
#include <fmt/format.h>

namespace kiln::models::gpt_bigcode {
namespace {

// Rows [heads, 3, head_dim] -> [3, heads, head_dim] of an fp32 CPU tensor [3 * heads * head_dim, ...].
Tensor regroup(const Tensor& t, int64_t heads, int64_t head_dim) {
  const Tensor src = t.contiguous();
  const int64_t row_bytes = static_cast<int64_t>(src.nbytes()) / src.size(0);
  Tensor out = Tensor::empty(src.shape(), DType::kFloat32);
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(out.raw());
  const size_t block = static_cast<size_t>(head_dim * row_bytes);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t p = 0; p < 3; ++p)
      std::memcpy(d + (p * heads + h) * block, s + (h * 3 + p) * block, block);
  return out;
}

}  // namespace

std::vector<WeightEntry> weight_map(const GptBigCodeConfig& c, GptBigCodeWeights& w,
                                    const std::string& hf_prefix) {
  const int64_t d = c.n_embd, inner = c.inner(), qkv = d + 2 * c.kv_heads() * c.head_dim();
  std::vector<WeightEntry> m = {
      {"wte", "wte.weight", &w.wte, {c.vocab_size, d}, false},
      {"wpe", "wpe.weight", &w.wpe, {c.n_positions, d}, false},
      {"ln_f.weight", "ln_f.weight", &w.ln_f_w, {d}, false},
      {"ln_f.bias", "ln_f.bias", &w.ln_f_b, {d}, false},
  };
  w.layers.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    GptBigCodeLayerWeights& l = w.layers[i];
    const std::string k = fmt::format("layers.{}.", i), h = fmt::format("h.{}.", i);
    const std::vector<WeightEntry> layer = {
        {k + "ln_1.weight", h + "ln_1.weight", &l.ln_1_w, {d}, false},
        {k + "ln_1.bias", h + "ln_1.bias", &l.ln_1_b, {d}, false},
        {k + "attn.qkv.weight", h + "attn.c_attn.weight", &l.qkv_w, {qkv, d}, false},
        {k + "attn.qkv.bias", h + "attn.c_attn.bias", &l.qkv_b, {qkv}, false},
        {k + "attn.out.weight", h + "attn.c_proj.weight", &l.attn_out_w, {d, d}, false},
        {k + "attn.out.bias", h + "attn.c_proj.bias", &l.attn_out_b, {d}, false},
        {k + "ln_2.weight", h + "ln_2.weight", &l.ln_2_w, {d}, false},
        {k + "ln_2.bias", h + "ln_2.bias", &l.ln_2_b, {d}, false},
        {k + "mlp.fc.weight", h + "mlp.c_fc.weight", &l.fc_w, {inner, d}, false},
        {k + "mlp.fc.bias", h + "mlp.c_fc.bias", &l.fc_b, {inner}, false},
        {k + "mlp.proj.weight", h + "mlp.c_proj.weight", &l.proj_w, {d, inner}, false},
        {k + "mlp.proj.bias", h + "mlp.c_proj.bias", &l.proj_b, {d}, false},
    };
    m.insert(m.end(), layer.begin(), layer.end());
  }
  for (WeightEntry& e : m) e.hf_name = hf_prefix + e.hf_name;
  if (!c.tie_word_embeddings)
    m.push_back({"lm_head", "lm_head.weight", &w.lm_head, {c.vocab_size, d}, false});
  return m;
}

void regroup_mha_qkv(const GptBigCodeConfig& c, GptBigCodeWeights& w) {
  if (c.multi_query) return;
  for (GptBigCodeLayerWeights& l : w.layers) {
    l.qkv_w = regroup(l.qkv_w, c.n_head, c.head_dim());
    l.qkv_b = regroup(l.qkv_b, c.n_head, c.head_dim());
  }
}

}  // namespace kiln::models::gpt_bigcode
