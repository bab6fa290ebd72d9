#include "models/bart/model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/check.h"
#include "io/checkpoint.h"
#include "layers/lm_head.h"
#include "models/common/device_weights.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::bart {
namespace {

using Layer = BartModel::Layer;

enum class Sublayer { kSelfAttention, kCrossAttention, kMlp };

const layers::LayerNorm& norm_of(const Layer& l, Sublayer s) {
  return s == Sublayer::kSelfAttention    ? l.attn_ln
         : s == Sublayer::kCrossAttention ? l.cross_ln
                                          : l.ffn_ln;
}

// Runs a stack's layers over the residual stream h [n, d] as a chain of residual sublayers
// (self-attention, cross-attention in the decoder, MLP). Post-LN (BART, Marian): h = LN(h + f(h)),
// the normalised sum becoming the stream (h and normed swap). Pre-LN (mBART): h += f(LN(h)), each
// add fused with the next sublayer's LayerNorm; h leaves un-normalised. f(layer, sublayer, x, y)
// computes y [n, d] from x [n, d]; its scratch is taken from ws and rewound.
template <class F>
void run_stack(const std::vector<Layer>& stack, bool pre_ln, bool decoder, Tensor& h,
               Tensor& normed, Tensor& tmp, Workspace& ws, ExecContext& ctx, F&& f) {
  static constexpr Sublayer kEncoder[] = {Sublayer::kSelfAttention, Sublayer::kMlp};
  static constexpr Sublayer kDecoder[] = {Sublayer::kSelfAttention, Sublayer::kCrossAttention,
                                          Sublayer::kMlp};
  const Sublayer* subs = decoder ? kDecoder : kEncoder;
  const size_t per_layer = decoder ? 3 : 2, total = stack.size() * per_layer;
  const size_t mark = ws.used();
  if (pre_ln) {
    const layers::LayerNorm& first = norm_of(stack[0], subs[0]);
    ops::layer_norm(h, first.weight, first.bias, first.eps, normed, ctx);
  }
  for (size_t j = 0; j < total; ++j) {
    const size_t i = j / per_layer;
    const Sublayer s = subs[j % per_layer];
    f(i, s, pre_ln ? normed : h, tmp);
    ws.rewind(mark);
    if (!pre_ln) {
      const layers::LayerNorm& ln = norm_of(stack[i], s);
      ops::add_layer_norm(h, tmp, ln.weight, ln.bias, ln.eps, normed, ctx);
      std::swap(h, normed);
    } else if (j + 1 < total) {
      const layers::LayerNorm& ln = norm_of(stack[(j + 1) / per_layer], subs[(j + 1) % per_layer]);
      ops::add_layer_norm(h, tmp, ln.weight, ln.bias, ln.eps, normed, ctx);
    } else {
      ops::add(h, tmp, h, ctx);
    }
  }
}

// A fp32 host copy of table times scale.
Tensor scaled_copy(const Tensor& table, float scale) {
  Tensor out = Tensor::empty(table.shape(), DType::kFloat32);
  const Tensor src = table.contiguous();
  const float* s = src.data<float>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) d[i] = s[i] * scale;
  return out;
}

bool all_zero(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::all_of(c.data<float>(), c.data<float>() + c.numel(),
                     [](float x) { return x == 0.f; });
}

}  // namespace

BartModel::BartModel(const BartConfig& config, BartWeights weights, const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  const int64_t d = config_.d_model;
  spec_.model_type = config_.model_type();
  spec_.num_layers = static_cast<int>(config_.decoder_layers);
  spec_.num_heads = spec_.num_kv_heads = static_cast<int>(config_.decoder_attention_heads);
  spec_.head_dim = static_cast<int>(config_.decoder_head_dim());
  spec_.vocab_size = config_.target_vocab_size();
  spec_.max_positions = config_.max_position_embeddings;
  spec_.encoder_decoder = true;
  spec_.max_encoder_positions = config_.encoder_max_positions();
  spec_.encoder_vocab_size = config_.vocab_size;
  spec_.decoder_start_token_id = static_cast<int32_t>(config_.decoder_start());
  spec_.device = options.allocator->device();
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);
  ExecContext ctx;
  ctx.device = spec_.device;

  // Host-side preparation before the weights move: the scaled input tables, the fp32 bias and
  // the computed sinusoidal tables (Marian's, fairseq's).
  tie_tables(config_, weights_);
  const int64_t de = config_.encoder_d_model;
  const float enc_scale = config_.embed_scale(/*decoder=*/false);
  const float dec_scale = config_.embed_scale(/*decoder=*/true);
  // Tied tables at one scale keep one input table.
  const bool one_input_table = config_.encoder_decoder_embeddings_tied() && enc_scale == dec_scale;
  Tensor enc_in, dec_in;
  if (enc_scale != 1.f) enc_in = scaled_copy(weights_.encoder_embed, enc_scale);
  if (dec_scale != 1.f && !one_input_table) dec_in = scaled_copy(weights_.decoder_embed, dec_scale);
  if (weights_.final_logits_bias.defined() && !all_zero(weights_.final_logits_bias))
    logits_bias_ = ops::to_device(weights_.final_logits_bias, DType::kFloat32, allocator_, ctx);
  if (config_.positions() == Positions::kMarianSinusoidal) {
    encoder_.positions = ops::to_device(sinusoidal_positions(config_.max_position_embeddings, d),
                                        spec_.dtype, allocator_, ctx);
    decoder_.positions = encoder_.positions;
  } else if (config_.positions() == Positions::kFairseqSinusoidal) {
    const int64_t off = config_.position_offset();
    encoder_.positions =
        ops::to_device(fairseq_sinusoidal_positions(config_.encoder_max_positions(), de, off),
                       spec_.dtype, allocator_, ctx);
    decoder_.positions =
        de == d && config_.encoder_max_positions() == config_.max_position_embeddings
            ? encoder_.positions
            : ops::to_device(fairseq_sinusoidal_positions(config_.max_position_embeddings, d, off),
                             spec_.dtype, allocator_, ctx);
  }

  const std::vector<WeightEntry> entries = weight_map(config_, weights_, /*split_qkv=*/false);
  move_weights(entries, spec_.dtype, allocator_);
  tie_tables(config_, weights_);
  // Bytes a decoder step reads: the decoder layers, its final LayerNorm and the LM head.
  spec_.weight_bytes = static_cast<int64_t>(weights_.lm_head.nbytes());
  for (const WeightEntry& e : entries)
    if (e.kiln_name.rfind("decoder.layer", 0) == 0)
      spec_.weight_bytes += static_cast<int64_t>(e.tensor->nbytes());
  // The encoder's matmul weights (prefill FLOP accounting; embeddings are read by row).
  for (const WeightEntry& e : entries)
    if (e.kiln_name.rfind("encoder.layer", 0) == 0)
      spec_.encoder_weight_bytes += static_cast<int64_t>(e.tensor->nbytes());
  spec_.encoder_layers = static_cast<int>(config_.encoder_layers);
  spec_.encoder_heads = static_cast<int>(config_.encoder_attention_heads);
  spec_.encoder_head_dim = static_cast<int>(config_.encoder_head_dim());

  encoder_.embed = enc_scale != 1.f ? ops::to_device(enc_in, spec_.dtype, allocator_, ctx)
                                    : weights_.encoder_embed;
  if (one_input_table) {
    decoder_.embed = encoder_.embed;
  } else {
    decoder_.embed = dec_scale != 1.f ? ops::to_device(dec_in, spec_.dtype, allocator_, ctx)
                                      : weights_.decoder_embed;
  }

  const ops::ActivationKind act = ops::activation_from_name(config_.activation_function);
  const float eps = BartConfig::kLayerNormEps;
  auto build = [&](const BartStackWeights& sw, Stack& s, bool decoder) {
    if (config_.learned_positions()) {
      // HF looks up position + 2 (fairseq: + pad + 1); the leading rows are never read.
      s.positions =
          sw.embed_positions.slice(0, config_.position_offset(), sw.embed_positions.size(0));
    }
    if (config_.layernorm_embedding()) s.emb_ln = {sw.emb_ln_w, sw.emb_ln_b, eps};
    if (config_.final_layer_norm(decoder)) s.final_ln = {sw.final_ln_w, sw.final_ln_b, eps};
    const int heads = static_cast<int>(decoder ? config_.decoder_attention_heads
                                               : config_.encoder_attention_heads);
    const int head_dim = static_cast<int>((decoder ? d : de) / heads);
    // HF scales q by head_dim^-0.5 before q·k; the same factor on the scores.
    const float attn_scale = static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
    for (const BartLayerWeights& w : sw.layers) {
      Layer l;
      l.attn_ln = {w.attn_ln_w, w.attn_ln_b, eps};
      l.attn.qkv = {w.qkv_w, w.qkv_b};
      l.attn.out = {w.out_w, w.out_b};
      l.attn.num_heads = l.attn.num_kv_heads = heads;
      l.attn.head_dim = head_dim;
      l.attn.scale = attn_scale;
      if (decoder) {
        l.cross_ln = {w.cross_ln_w, w.cross_ln_b, eps};
        l.cross.q = {w.cross_q_w, w.cross_q_b};
        l.cross.kv = {w.cross_kv_w, w.cross_kv_b};
        l.cross.out = {w.cross_out_w, w.cross_out_b};
        l.cross.num_heads = heads;
        l.cross.head_dim = head_dim;
        l.cross.scale = attn_scale;
      }
      l.ffn_ln = {w.ffn_ln_w, w.ffn_ln_b, eps};
      l.mlp = {{w.fc1_w, w.fc1_b}, {w.fc2_w, w.fc2_b}, act};
      s.layers.push_back(std::move(l));
    }
  };
  build(weights_.encoder, encoder_, /*decoder=*/false);
  build(weights_.decoder, decoder_, /*decoder=*/true);
}

void BartModel::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  const int64_t d = std::max(config_.d_model, config_.encoder_d_model);
  // Live at once per token: h, normed, tmp (3d), then qkv (3d) + attention output (d), the
  // cross-attention q + output (2d), the MLP hidden (ffn_dim) or the encoder's cross k|v (2d).
  // Per logit row: the gathered rows and their final LayerNorm (2d), and the fp32 logits.
  // The encoder's self-attention K/V scratch pools: the runtime keeps scratch_blocks *
  // block_size within max_num_tokens + 16 per sequence (at most max_logit_rows + 1 sequences).
  max_tokens_ = max_num_tokens;
  scratch_capacity_ = max_num_tokens + 16 * (max_logit_rows + 1);
  const int64_t es = static_cast<int64_t>(dtype_size(spec_.dtype));
  reserve_step_workspace(
      ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
      {.per_token = 3 * d + std::max({4 * d, config_.encoder_ffn_dim, config_.decoder_ffn_dim}),
       .per_logit_row = 2 * d,
       .vocab_size = spec_.vocab_size,
       .extra_bytes = 2 * scratch_capacity_ * d * es});
  ExecContext ctx;
  ctx.device = spec_.device;
  zero_ids_ = ops::to_device(Tensor::zeros({std::max<int64_t>(max_logit_rows, 1)}, DType::kInt32),
                             DType::kInt32, allocator_, ctx);
}

void BartModel::embed(const Stack& s, const Tensor& ids, const Tensor& pos, Tensor& h, Tensor& tmp,
                      ExecContext& ctx) const {
  Tensor& x = s.emb_ln.weight.defined() ? tmp : h;
  ops::embedding(ids, s.embed, x, /*accumulate=*/false, ctx);
  if (s.positions.defined()) ops::embedding(pos, s.positions, x, /*accumulate=*/true, ctx);
  if (s.emb_ln.weight.defined()) s.emb_ln.forward(x, h, ctx);
}

void BartModel::encode(const layers::EncoderBatch& batch, layers::KvCacheView& kv,
                       ExecContext& ctx) {
  const char* type = spec_.model_type.c_str();
  const int64_t n = batch.num_tokens(), d = config_.encoder_d_model;
  const DType dt = spec_.dtype;
  KILN_CHECK(n > 0, "{}: empty encoder batch", type);
  KILN_CHECK(n <= max_tokens_, "{}: encoder batch of {} tokens, reserved for {}", type, n,
             max_tokens_);
  KILN_CHECK(batch.scratch_blocks * batch.block_size <= scratch_capacity_,
             "{}: encoder scratch of {} blocks x {} tokens exceeds the reserved {} tokens", type,
             batch.scratch_blocks, batch.block_size, scratch_capacity_);
  KILN_CHECK(static_cast<int64_t>(kv.k.size()) == config_.decoder_layers,
             "{}: KV cache has {} layers, decoder {}", type, kv.k.size(), config_.decoder_layers);
  ws_.reset();
  const int64_t heads = config_.encoder_attention_heads, hd = config_.encoder_head_dim();
  Tensor k_scratch = ws_.take({batch.scratch_blocks, heads, batch.block_size, hd}, dt);
  Tensor v_scratch = ws_.take({batch.scratch_blocks, heads, batch.block_size, hd}, dt);
  Tensor h = ws_.take({n, d}, dt);       // [n, d] residual stream
  Tensor normed = ws_.take({n, d}, dt);  // [n, d]
  Tensor tmp = ws_.take({n, d}, dt);     // [n, d] sublayer output
  embed(encoder_, batch.input_ids, batch.positions, h, tmp, ctx);
  run_stack(encoder_.layers, config_.pre_ln(/*decoder=*/false), /*decoder=*/false, h, normed, tmp,
            ws_, ctx, [&](size_t i, Sublayer s, const Tensor& x, Tensor& y) {
              const Layer& l = encoder_.layers[i];
              if (s == Sublayer::kSelfAttention) {
                l.attn.forward_encoder(x, batch, k_scratch, v_scratch, y, ws_, ctx);
              } else {
                l.mlp.forward(x, y, ws_, ctx);
              }
            });
  Tensor enc = h;  // [n, d] encoder output
  if (encoder_.final_ln.weight.defined()) {
    encoder_.final_ln.forward(h, normed, ctx);
    enc = normed;
  }
  const size_t mark = ws_.used();
  for (int64_t l = 0; l < config_.decoder_layers; ++l) {
    decoder_.layers[l].cross.write_kv(enc, batch.cross_slots, kv.k[l], kv.v[l], ws_, ctx);
    ws_.rewind(mark);
  }
}

Tensor BartModel::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                          ExecContext& ctx) {
  const char* type = spec_.model_type.c_str();
  const int64_t n = batch.num_tokens(), d = config_.d_model;
  const DType dt = spec_.dtype;
  KILN_CHECK(n > 0, "{}: empty batch", type);
  KILN_CHECK(static_cast<int64_t>(kv.k.size()) == config_.decoder_layers,
             "{}: KV cache has {} layers, decoder {}", type, kv.k.size(), config_.decoder_layers);
  KILN_CHECK(batch.cross.block_tables.defined(),
             "{}: decoder step without cross-attention metadata (encode the inputs first)", type);
  ws_.reset();
  Tensor h = ws_.take({n, d}, dt);       // [n, d] residual stream
  Tensor normed = ws_.take({n, d}, dt);  // [n, d]
  Tensor tmp = ws_.take({n, d}, dt);     // [n, d] sublayer output
  embed(decoder_, batch.input_ids, batch.positions, h, tmp, ctx);
  run_stack(decoder_.layers, config_.pre_ln(/*decoder=*/true), /*decoder=*/true, h, normed, tmp,
            ws_, ctx, [&](size_t i, Sublayer s, const Tensor& x, Tensor& y) {
              const Layer& l = decoder_.layers[i];
              if (s == Sublayer::kSelfAttention) {
                l.attn.forward(x, batch, kv.k[i], kv.v[i], y, ws_, ctx);
              } else if (s == Sublayer::kCrossAttention) {
                l.cross.forward(x, batch, kv.k[i], kv.v[i], y, ws_, ctx);
              } else {
                l.mlp.forward(x, y, ws_, ctx);
              }
            });
  // Only the rows whose logits are wanted go through the final LayerNorm and the head.
  Tensor x = layers::gather_logit_rows(h, batch, ws_, ctx);  // [m, d]
  const int64_t m = x.size(0);
  if (decoder_.final_ln.weight.defined()) {
    Tensor y = ws_.take({m, d}, dt);
    decoder_.final_ln.forward(x, y, ctx);
    x = y;
  }
  Tensor logits = layers::lm_head_logits(x, weights_.lm_head, ws_, ctx);  // [m, vocab] fp32
  if (logits_bias_.defined() && m > 0) {
    KILN_CHECK(m <= zero_ids_.size(0), "{}: {} logit rows, reserved for {}", type, m,
               zero_ids_.size(0));
    // logits[r, :] += final_logits_bias[0, :] in fp32: an accumulating lookup of row 0.
    ops::embedding(zero_ids_.slice(0, 0, m), logits_bias_, logits, /*accumulate=*/true, ctx);
  }
  return logits;
}

void BartModel::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(),
                       weight_map(config_, weights_, /*split_qkv=*/false), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const BartConfig config = BartConfig::from_json(cfg);
  KILN_CHECK(!config.fairseq() || cfg.has("kiln_checkpoint"),
             "{}: model_type 'fairseq' is a kiln checkpoint written by tools/convert_fairseq.py "
             "(convert the fairseq .pt with it)",
             dir);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  BartWeights w;
  if (cfg.has("kiln_checkpoint")) {
    load_weights(ckpt, weight_map(config, w, /*split_qkv=*/false), /*kiln_format=*/true);
  } else {
    load_weights(ckpt, hf_weight_map(config, w, ckpt), /*kiln_format=*/false);
    fuse_attention(w);
  }
  return std::make_unique<BartModel>(config, std::move(w), options);
}

BartWeights random_weights(const BartConfig& config, uint64_t seed) {
  BartWeights w;
  fill_random_weights(
      weight_map(config, w, /*split_qkv=*/false), seed, [](const std::string& name) {
        return is_norm_weight(name) || name.find("layernorm_embedding.weight") != std::string::npos;
      });
  return w;
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  // GPT-2-style architecture flags fill both stacks where the HF names are absent.
  nlohmann::json j = arch.json();
  const auto alias = [&](const char* flag, std::initializer_list<const char*> keys) {
    if (!j.contains(flag) || j[flag].is_null()) return;
    for (const char* k : keys)
      if (!j.contains(k)) j[k] = j[flag];
  };
  alias("n_layer", {"encoder_layers", "decoder_layers"});
  alias("n_embd", {"d_model"});
  alias("n_head", {"encoder_attention_heads", "decoder_attention_heads"});
  alias("n_inner", {"encoder_ffn_dim", "decoder_ffn_dim"});
  alias("n_positions", {"max_position_embeddings"});
  const BartConfig c = BartConfig::from_json(io::JsonConfig::from_json(j, arch.source()));
  return std::make_unique<BartModel>(c, random_weights(c, seed), options);
}

}  // namespace kiln::models::bart
