#include "models/llama/weights.h"

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
    std::vector<Tensor> parts(f.hf_parts.size());
    std::vector<WeightEntry> entries;
    for (size_t i = 0; i < parts.size(); ++i) {
      Shape s = f.entry.shape;
      s[0] = f.part_rows[i];
      entries.push_back({f.hf_parts[i], f.hf_parts[i], &parts[i], s, false});
    }
    load_weights(ckpt, entries, /*kiln_format=*/false);
    Tensor fused = Tensor::empty(f.entry.shape, DType::kFloat32);
    char* dst = static_cast<char*>(static_cast<void*>(fused.data<float>()));
    for (const Tensor& t : parts) {  // contiguous fp32 [rows, ...] blocks, stacked along dim 0
      std::memcpy(dst, t.data<float>(), t.nbytes());
      dst += t.nbytes();
    }
    *f.entry.tensor = fused;
  }
}

}  // namespace kiln::models::llama
