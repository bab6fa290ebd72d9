#include "models/t5/weights.h"

#include "models/common/fused_weights.h"

#include <fmt/format.h>

#include <cstring>

#include "core/check.h"

namespace kiln::models::t5 {
namespace {

constexpr const char* kEncEmbed = "encoder.embed_tokens.weight";
constexpr const char* kDecEmbed = "decoder.embed_tokens.weight";

// The HF name `shared` is read from: shared.weight, else the first embed_tokens stored.
std::string shared_source(const io::Checkpoint& ckpt, const std::string& p) {
  for (const std::string& n : {p + "shared.weight", p + kEncEmbed, p + kDecEmbed})
    if (ckpt.has(n)) return n;
  KILN_FAIL("T5 checkpoint has no shared embedding ('{}shared.weight', '{}{}' or '{}{}')", p, p,
            kEncEmbed, p, kDecEmbed);
}

// The blocks of one stack. HF: <stack>.block.N.layer.{0: self-attention, 1: cross-attention
// (decoder), last: FFN}.
void stack_map(const T5Config& c, bool decoder, std::vector<T5LayerWeights>& layers,
               Tensor* final_norm, const std::string& hf_prefix, std::vector<T5FusedEntry>& m) {
  const int64_t d = c.d_model, inner = c.inner_dim(), ff = c.d_ff;
  const int64_t n = decoder ? c.decoder_layers() : c.num_layers;
  const std::string stack = decoder ? "decoder" : "encoder";
  const auto one = [&](std::string kiln, std::string hf, Tensor* t, Shape shape) {
    m.push_back({{kiln, hf, t, shape, false}, {hf}, {shape[0]}});
  };
  const auto fused = [&](std::string kiln, std::vector<std::string> hf, Tensor* t,
                         std::vector<int64_t> rows, int64_t cols) {
    int64_t total = 0;
    for (int64_t r : rows) total += r;
    m.push_back({{kiln, hf[0], t, {total, cols}, false}, hf, rows});
  };
  layers.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    T5LayerWeights& l = layers[i];
    const std::string k = fmt::format("{}.layers.{}.", stack, i);
    const std::string h = fmt::format("{}{}.block.{}.layer.", hf_prefix, stack, i);
    const std::string a = h + "0.SelfAttention.";
    one(k + "self_attn_norm.weight", h + "0.layer_norm.weight", &l.attn_norm, {d});
    fused(k + "self_attn.qkv.weight", {a + "q.weight", a + "k.weight", a + "v.weight"}, &l.qkv,
          {inner, inner, inner}, d);
    one(k + "self_attn.out.weight", a + "o.weight", &l.attn_out, {d, inner});
    if (i == 0 || c.bias_per_layer())
      one(k + "self_attn.relative_attention_bias", a + "relative_attention_bias.weight",
          &l.rel_bias, {c.relative_attention_num_buckets, c.num_heads});
    std::string ffn = h + "1.";
    if (decoder) {
      const std::string x = h + "1.EncDecAttention.";
      one(k + "cross_attn_norm.weight", h + "1.layer_norm.weight", &l.cross_norm, {d});
      one(k + "cross_attn.q.weight", x + "q.weight", &l.cross_q, {inner, d});
      fused(k + "cross_attn.kv.weight", {x + "k.weight", x + "v.weight"}, &l.cross_kv,
            {inner, inner}, d);
      one(k + "cross_attn.out.weight", x + "o.weight", &l.cross_out, {d, inner});
      ffn = h + "2.";
    }
    one(k + "ff_norm.weight", ffn + "layer_norm.weight", &l.ff_norm, {d});
    const std::string f = ffn + "DenseReluDense.";
    if (c.is_gated_act)
      fused(k + "mlp.wi.weight", {f + "wi_0.weight", f + "wi_1.weight"}, &l.wi, {ff, ff}, d);
    else
      one(k + "mlp.wi.weight", f + "wi.weight", &l.wi, {ff, d});
    one(k + "mlp.wo.weight", f + "wo.weight", &l.wo, {d, ff});
  }
  one(stack + ".final_norm.weight", hf_prefix + stack + ".final_layer_norm.weight", final_norm,
      {d});
}

}  // namespace

std::vector<T5FusedEntry> fused_map(const T5Config& c, const T5Storage& s, T5Weights& w,
                                    const std::string& hf_prefix) {
  const int64_t d = c.d_model, v = c.vocab_size;
  const std::string& p = hf_prefix;
  std::vector<T5FusedEntry> m;
  const auto one = [&](std::string kiln, std::string hf, Tensor* t, Shape shape) {
    m.push_back({{kiln, hf, t, shape, false}, {hf}, {shape[0]}});
  };
  one("shared", p + "shared.weight", &w.shared, {v, d});
  if (s.enc_embed) one("encoder.embed_tokens", p + kEncEmbed, &w.enc_embed, {v, d});
  if (s.dec_embed) one("decoder.embed_tokens", p + kDecEmbed, &w.dec_embed, {v, d});
  stack_map(c, /*decoder=*/false, w.encoder, &w.enc_final_norm, p, m);
  stack_map(c, /*decoder=*/true, w.decoder, &w.dec_final_norm, p, m);
  if (s.lm_head) one("lm_head", "lm_head.weight", &w.lm_head, {v, d});
  return m;
}

std::vector<WeightEntry> weight_map(const T5Config& c, const T5Storage& s, T5Weights& w) {
  std::vector<WeightEntry> out;
  for (T5FusedEntry& f : fused_map(c, s, w, "")) out.push_back(f.entry);
  return out;
}

std::string find_t5_prefix(const io::Checkpoint& ckpt) {
  for (const char* p : {"", "transformer.", "model."})
    if (ckpt.has(std::string(p) + "encoder.final_layer_norm.weight")) return p;
  KILN_FAIL(
      "T5 checkpoint has no 'encoder.final_layer_norm.weight' (nor under 'transformer.' or "
      "'model.'): not a T5ForConditionalGeneration / T5Model checkpoint");
}

T5Storage hf_storage(const io::Checkpoint& ckpt, const std::string& p) {
  const std::string src = shared_source(ckpt, p);
  T5Storage s;
  s.enc_embed = ckpt.has(p + kEncEmbed) && src != p + kEncEmbed;
  s.dec_embed = ckpt.has(p + kDecEmbed) && src != p + kDecEmbed;
  s.lm_head = ckpt.has("lm_head.weight");
  return s;
}

T5Storage kiln_storage(const io::Checkpoint& ckpt) {
  return {ckpt.has("encoder.embed_tokens"), ckpt.has("decoder.embed_tokens"), ckpt.has("lm_head")};
}

void load_hf_weights(const io::Checkpoint& ckpt, const T5Config& c, const T5Storage& s,
                     T5Weights& w, const std::string& hf_prefix) {
  std::vector<T5FusedEntry> m = fused_map(c, s, w, hf_prefix);
  m[0].entry.hf_name = m[0].hf_parts[0] = shared_source(ckpt, hf_prefix);
  for (T5FusedEntry& f : m) {
    if (f.hf_parts.size() == 1) {
      load_weights(ckpt, {f.entry}, /*kiln_format=*/false);
      continue;
    }
    load_fused(ckpt, f.hf_parts, f.part_rows, f.entry.shape, f.entry.tensor);
  }
  tie_weights(s, w);
}

void tie_weights(const T5Storage& s, T5Weights& w) {
  if (!s.enc_embed) w.enc_embed = w.shared;
  if (!s.dec_embed) w.dec_embed = w.shared;
  if (!s.lm_head) w.lm_head = w.shared;
}

}  // namespace kiln::models::t5
