#include "models/bart/weights.h"

#include "models/common/fused_weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"

namespace kiln::models::bart {
namespace {


// The entries of one stack ("encoder." or "decoder."); kiln and HF names agree but for the fused
// projections.
void stack_map(const BartConfig& c, BartStackWeights& s, bool decoder, bool split_qkv,
               std::vector<WeightEntry>& m) {
  // d: this stack's width; e: the encoder's (cross-attention k|v input).
  const int64_t d = decoder ? c.d_model : c.encoder_d_model, e = c.encoder_d_model;
  const int64_t f = decoder ? c.decoder_ffn_dim : c.encoder_ffn_dim;
  const int64_t num_layers = decoder ? c.decoder_layers : c.encoder_layers;
  const int64_t max_pos = decoder ? c.max_position_embeddings : c.encoder_max_positions();
  const std::string stack = decoder ? "decoder." : "encoder.";
  auto add = [&](const std::string& kn, const std::string& hn, Tensor* t, Shape shape) {
    m.push_back({stack + kn, hn.empty() ? "" : stack + hn, t, std::move(shape), false});
  };
  auto same = [&](const std::string& n, Tensor* t, Shape shape) { add(n, n, t, std::move(shape)); };
  if (c.learned_positions())
    same("embed_positions.weight", &s.embed_positions, {max_pos + c.position_offset(), d});
  if (c.layernorm_embedding()) {
    same("layernorm_embedding.weight", &s.emb_ln_w, {d});
    same("layernorm_embedding.bias", &s.emb_ln_b, {d});
  }
  s.layers.resize(num_layers);
  for (int64_t i = 0; i < num_layers; ++i) {
    BartLayerWeights& l = s.layers[i];
    const std::string p = fmt::format("layers.{}.", i);
    same(p + "self_attn_layer_norm.weight", &l.attn_ln_w, {d});
    same(p + "self_attn_layer_norm.bias", &l.attn_ln_b, {d});
    if (split_qkv) {
      same(p + "self_attn.q_proj.weight", &l.q_w, {d, d});
      same(p + "self_attn.q_proj.bias", &l.q_b, {d});
      same(p + "self_attn.k_proj.weight", &l.k_w, {d, d});
      same(p + "self_attn.k_proj.bias", &l.k_b, {d});
      same(p + "self_attn.v_proj.weight", &l.v_w, {d, d});
      same(p + "self_attn.v_proj.bias", &l.v_b, {d});
    } else {
      add(p + "self_attn.qkv.weight", "", &l.qkv_w, {3 * d, d});
      add(p + "self_attn.qkv.bias", "", &l.qkv_b, {3 * d});
    }
    same(p + "self_attn.out_proj.weight", &l.out_w, {d, d});
    same(p + "self_attn.out_proj.bias", &l.out_b, {d});
    if (decoder) {
      same(p + "encoder_attn_layer_norm.weight", &l.cross_ln_w, {d});
      same(p + "encoder_attn_layer_norm.bias", &l.cross_ln_b, {d});
      same(p + "encoder_attn.q_proj.weight", &l.cross_q_w, {d, d});
      same(p + "encoder_attn.q_proj.bias", &l.cross_q_b, {d});
      if (split_qkv) {
        same(p + "encoder_attn.k_proj.weight", &l.cross_k_w, {d, e});
        same(p + "encoder_attn.k_proj.bias", &l.cross_k_b, {d});
        same(p + "encoder_attn.v_proj.weight", &l.cross_v_w, {d, e});
        same(p + "encoder_attn.v_proj.bias", &l.cross_v_b, {d});
      } else {
        add(p + "encoder_attn.kv.weight", "", &l.cross_kv_w, {2 * d, e});
        add(p + "encoder_attn.kv.bias", "", &l.cross_kv_b, {2 * d});
      }
      same(p + "encoder_attn.out_proj.weight", &l.cross_out_w, {d, d});
      same(p + "encoder_attn.out_proj.bias", &l.cross_out_b, {d});
    }
    same(p + "final_layer_norm.weight", &l.ffn_ln_w, {d});
    same(p + "final_layer_norm.bias", &l.ffn_ln_b, {d});
    same(p + "fc1.weight", &l.fc1_w, {f, d});
    same(p + "fc1.bias", &l.fc1_b, {f});
    same(p + "fc2.weight", &l.fc2_w, {d, f});
    same(p + "fc2.bias", &l.fc2_b, {d});
  }
  if (c.final_layer_norm(decoder)) {
    same("layer_norm.weight", &s.final_ln_w, {d});
    same("layer_norm.bias", &s.final_ln_b, {d});
  }
}

}  // namespace

std::vector<WeightEntry> weight_map(const BartConfig& c, BartWeights& w, bool split_qkv) {
  const int64_t d = c.d_model, tv = c.target_vocab_size();
  std::vector<WeightEntry> m = {{"encoder.embed_tokens",
                                 "encoder.embed_tokens.weight",
                                 &w.encoder_embed,
                                 {c.vocab_size, c.encoder_d_model},
                                 false}};
  if (!c.encoder_decoder_embeddings_tied())
    m.push_back({"decoder.embed_tokens",
                 "decoder.embed_tokens.weight",
                 &w.decoder_embed,
                 {c.decoder_embed_rows(), d},
                 false});
  if (!c.lm_head_tied()) m.push_back({"lm_head", "lm_head.weight", &w.lm_head, {tv, d}, false});
  if (!c.fairseq())  // fairseq has no output bias
    m.push_back({"final_logits_bias", "final_logits_bias", &w.final_logits_bias, {1, tv}, false});
  stack_map(c, w.encoder, /*decoder=*/false, split_qkv, m);
  stack_map(c, w.decoder, /*decoder=*/true, split_qkv, m);
  return m;
}

std::vector<WeightEntry> hf_weight_map(const BartConfig& c, BartWeights& w,
                                       const io::Checkpoint& ckpt) {
  // BartForConditionalGeneration / MBart... / MarianMTModel save the base model under "model.";
  // lm_head and final_logits_bias are never prefixed.
  const std::string prefix =
      find_hf_prefix(ckpt, "encoder.layers.0.fc1.weight", {"model.", ""}).value_or("model.");
  std::vector<WeightEntry> m;
  for (WeightEntry& e : weight_map(c, w, /*split_qkv=*/true)) {
    if (e.kiln_name == "final_logits_bias") {
      if (!ckpt.has(e.hf_name)) {  // HF: _keys_to_ignore_on_load_missing, zeros
        w.final_logits_bias = Tensor::zeros({1, c.target_vocab_size()}, DType::kFloat32);
        continue;
      }
    } else if (e.kiln_name != "lm_head") {
      e.hf_name = prefix + e.hf_name;
    }
    m.push_back(std::move(e));
  }
  // A tied table is stored under any one of its names (HF ties symmetrically at load).
  // Untied tables are read under their own name only (BART's untied `shared` is unused).
  std::vector<std::string> enc_names = {prefix + "encoder.embed_tokens.weight"};
  std::vector<std::string> dec_names = {prefix + "decoder.embed_tokens.weight"};
  if (c.encoder_decoder_embeddings_tied()) {
    enc_names.insert(enc_names.begin(), prefix + "shared.weight");
    enc_names.push_back(dec_names[0]);
  }
  if (c.lm_head_tied()) {
    (c.encoder_decoder_embeddings_tied() ? enc_names : dec_names).push_back("lm_head.weight");
  }
  for (WeightEntry& e : m) {
    const std::vector<std::string>* names = e.kiln_name == "encoder.embed_tokens"   ? &enc_names
                                            : e.kiln_name == "decoder.embed_tokens" ? &dec_names
                                                                                    : nullptr;
    if (!names) continue;
    auto it = std::find_if(names->begin(), names->end(),
                           [&](const std::string& n) { return ckpt.has(n); });
    KILN_CHECK(it != names->end(), "{}: no {} token embeddings (looked for {}; {})", ckpt.dir(),
               e.kiln_name.substr(0, 7), fmt::join(*names, ", "),
               c.tie_word_embeddings ? "tied" : "tie_word_embeddings is false");
    e.hf_name = *it;
  }
  return m;
}

void fuse_attention(BartWeights& w) {
  for (BartStackWeights* s : {&w.encoder, &w.decoder}) {
    for (BartLayerWeights& l : s->layers) {
      l.qkv_w = cat_rows({&l.q_w, &l.k_w, &l.v_w});
      l.qkv_b = cat_rows({&l.q_b, &l.k_b, &l.v_b});
      l.q_w = l.k_w = l.v_w = l.q_b = l.k_b = l.v_b = Tensor();
      if (l.cross_k_w.defined()) {
        l.cross_kv_w = cat_rows({&l.cross_k_w, &l.cross_v_w});
        l.cross_kv_b = cat_rows({&l.cross_k_b, &l.cross_v_b});
        l.cross_k_w = l.cross_v_w = l.cross_k_b = l.cross_v_b = Tensor();
      }
    }
  }
}

void tie_tables(const BartConfig& c, BartWeights& w) {
  if (c.encoder_decoder_embeddings_tied()) w.decoder_embed = w.encoder_embed;
  if (c.lm_head_tied()) w.lm_head = w.decoder_embed;
}

Tensor sinusoidal_positions(int64_t num_positions, int64_t dim) {
  Tensor t = Tensor::empty({num_positions, dim}, DType::kFloat32);
  const int64_t sentinel = (dim + 1) / 2;  // HF: dim // 2, or dim // 2 + 1 for odd dim
  for (int64_t p = 0; p < num_positions; ++p) {
    float* row = t.data<float>() + p * dim;
    for (int64_t j = 0; j < dim; ++j) {
      // position_enc[p, j] = p / 10000^(2 (j // 2) / dim); sin of the even columns, then cos
      // of the odd ones.
      const double angle =
          static_cast<double>(p) /
          std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(dim));
      if (j % 2 == 0) {
        row[j / 2] = static_cast<float>(std::sin(angle));
      } else {
        row[sentinel + j / 2] = static_cast<float>(std::cos(angle));
      }
    }
  }
  return t;
}

Tensor fairseq_sinusoidal_positions(int64_t num_positions, int64_t dim, int64_t offset) {
  Tensor t = Tensor::zeros({num_positions, dim}, DType::kFloat32);
  const int64_t half = dim / 2;
  // fairseq computes in fp32: freq_i = exp(i * -(log(10000) / (half - 1))), angle = n * freq_i.
  const float step = static_cast<float>(-(std::log(10000.0) / static_cast<double>(half - 1)));
  for (int64_t p = 0; p < num_positions; ++p) {
    float* row = t.data<float>() + p * dim;
    const float n = static_cast<float>(p + offset);
    for (int64_t i = 0; i < half; ++i) {
      const float freq = std::exp(static_cast<float>(i) * step);
      const float angle = n * freq;
      row[i] = std::sin(angle);
      row[half + i] = std::cos(angle);
    }  // an odd dim leaves the last column zero
  }
  return t;
}

}  // namespace kiln::models::bart
