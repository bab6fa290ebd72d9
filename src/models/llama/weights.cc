#include "models/llama/weights.h"

#include "models/common/fused_weights.h"

#include <fmt/format.h>

#include <cstring>

namespace kiln::models::llama {

std::vector<FusedEntry> fused_map(const LlamaConfig& c, LlamaWeights& w,
                                  const std::string& hf_prefix) {
  const int64_t d = c.hidden_size, inter = c.intermediate_size, hd = c.head_size();
  const int64_t qr = c.num_attention_heads * hd, kvr = c.kv_heads() * hd;
  const std::string p = hf_prefix;
  std::vector<FusedEntry> m;
  const auto one = [&](std::string kiln, std::string hf, Tensor* t, Shape shape) {
    m.push_back({{kiln, hf, t, shape, false}, {hf}, {shape[0]}});
  };
  one("embed_tokens", p + "embed_tokens.weight", &w.embed, {c.vocab_size, d});
  w.layers.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights& l = w.layers[i];
    const std::string k = fmt::format("layers.{}.", i), h = fmt::format("{}layers.{}.", p, i);
    one(k + "input_layernorm.weight", h + "input_layernorm.weight", &l.input_norm, {d});
    const std::string a = h + "self_attn.";
    m.push_back({{k + "attn.qkv.weight", a + "q_proj.weight", &l.qkv_w, {qr + 2 * kvr, d}, false},
                 {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                 {qr, kvr, kvr}});
    if (c.attention_bias)
      m.push_back({{k + "attn.qkv.bias", a + "q_proj.bias", &l.qkv_b, {qr + 2 * kvr}, false},
                   {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
                   {qr, kvr, kvr}});
    one(k + "attn.out.weight", a + "o_proj.weight", &l.o_w, {d, qr});
    if (c.attention_bias) one(k + "attn.out.bias", a + "o_proj.bias", &l.o_b, {d});
    one(k + "post_attention_layernorm.weight", h + "post_attention_layernorm.weight", &l.post_norm,
        {d});
    const std::string f = h + "mlp.";
    m.push_back({{k + "mlp.gate_up.weight", f + "gate_proj.weight", &l.gate_up_w, {2 * inter, d},
                  false},
                 {f + "gate_proj.weight", f + "up_proj.weight"},
                 {inter, inter}});
    if (c.mlp_bias)
      m.push_back({{k + "mlp.gate_up.bias", f + "gate_proj.bias", &l.gate_up_b, {2 * inter}, false},
                   {f + "gate_proj.bias", f + "up_proj.bias"},
                   {inter, inter}});
    one(k + "mlp.down.weight", f + "down_proj.weight", &l.down_w, {d, inter});
    if (c.mlp_bias) one(k + "mlp.down.bias", f + "down_proj.bias", &l.down_b, {d});
  }
  one("norm.weight", p + "norm.weight", &w.norm, {d});
  if (!c.tie_word_embeddings) one("lm_head", "lm_head.weight", &w.lm_head, {c.vocab_size, d});
  return m;
}

std::vector<WeightEntry> weight_map(const LlamaConfig& c, LlamaWeights& w) {
  std::vector<WeightEntry> out;
  for (FusedEntry& f : fused_map(c, w, "")) out.push_back(f.entry);
  return out;
}

void load_hf_weights(const io::Checkpoint& ckpt, const LlamaConfig& c, LlamaWeights& w,
                     const std::string& hf_prefix) {
  for (FusedEntry& f : fused_map(c, w, hf_prefix)) {
    if (f.hf_parts.size() == 1) {
      load_weights(ckpt, {f.entry}, /*kiln_format=*/false);
      continue;
    }
    load_fused(ckpt, f.hf_parts, f.part_rows, f.entry.shape, f.entry.tensor);
  }
}

}  // namespace kiln::models::llama
