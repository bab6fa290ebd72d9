#include "models/gpt_next/weights.h"

#include <fmt/format.h>

namespace kiln::models::gpt_next {

std::vector<WeightEntry> weight_map(const GptNextConfig& c, GptNextWeights& w) {
  const int64_t d = c.hidden_size, ffn = c.ffn_hidden_size, hd = c.head_dim();
  const int64_t qr = c.num_attention_heads * hd, kvr = c.kv_heads() * hd;
  const bool nb = c.norm_has_bias();
  std::vector<WeightEntry> m;
  const auto add = [&](const std::string& name, Tensor* t, Shape shape) {
    m.push_back({name, name, t, std::move(shape), false});
  };
  add("embed_tokens", &w.embed, {c.vocab_size, d});
  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    GptNextLayerWeights& l = w.layers[i];
    const std::string k = fmt::format("layers.{}.", i);
    add(k + "input_layernorm.weight", &l.input_norm_w, {d});
    if (nb) add(k + "input_layernorm.bias", &l.input_norm_b, {d});
    add(k + "attn.qkv.weight", &l.qkv_w, {qr + 2 * kvr, d});
    add(k + "attn.out.weight", &l.out_w, {d, qr});
    add(k + "post_attention_layernorm.weight", &l.post_norm_w, {d});
    if (nb) add(k + "post_attention_layernorm.bias", &l.post_norm_b, {d});
    add(k + "mlp.gate_up.weight", &l.gate_up_w, {2 * ffn, d});
    add(k + "mlp.down.weight", &l.down_w, {d, ffn});
  }
  add("final_layernorm.weight", &w.final_norm_w, {d});
  if (nb) add("final_layernorm.bias", &w.final_norm_b, {d});
  if (!c.share_embeddings_and_output_weights) add("lm_head", &w.lm_head, {c.vocab_size, d});
  return m;
}

}  // namespace kiln::models::gpt_next
