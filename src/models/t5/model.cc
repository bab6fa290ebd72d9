#include "models/t5/model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/check.h"
#include "io/checkpoint.h"
#include "layers/lm_head.h"
#include "models/common/device_weights.h"
#include "models/common/forward_buffers.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::t5 {

int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance) {
  int64_t n = relative_position, bucket = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (n > 0) bucket += num_buckets;
    n = std::abs(n);
  } else {
    n = -std::min<int64_t>(n, 0);
  }
  const int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return bucket + n;
  // HF: max_exact + (log(n.float() / max_exact) / math.log(max_distance / max_exact)
  //                  * (num_buckets - max_exact)).to(long), float32 tensor ops whose Python
  // scalars torch casts to float32; math.log runs in double.
  const float ratio = static_cast<float>(n) / static_cast<float>(max_exact);
  const float denom = static_cast<float>(
      std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  float v = std::log(ratio);
  v = v / denom;
  v = v * static_cast<float>(num_buckets - max_exact);
  const int64_t large = std::min<int64_t>(max_exact + static_cast<int64_t>(v), num_buckets - 1);
  return bucket + large;
}

Tensor relative_bias_table(const Tensor& rel_bias, bool bidirectional, int64_t max_distance) {
  const int64_t buckets = rel_bias.size(0), heads = rel_bias.size(1), width = 2 * max_distance + 1;
  Tensor table = Tensor::empty({heads, width}, DType::kFloat32);  // [heads, 2R + 1]
  const float* w = rel_bias.data<float>();                        // [buckets, heads]
  float* t = table.data<float>();
  for (int64_t r = -max_distance; r <= max_distance; ++r) {
    const int64_t b = relative_position_bucket(r, bidirectional, buckets, max_distance);
    KILN_CHECK(b >= 0 && b < buckets, "t5: relative position {} maps to bucket {} of {}", r, b,
               buckets);
    for (int64_t h = 0; h < heads; ++h) t[h * width + r + max_distance] = w[b * heads + h];
  }
  return table;
}

T5Model::T5Model(const T5Config& config, T5Weights weights, const T5Storage& storage,
                 const LoadOptions& options)
    : config_(config),
      storage_(storage),
      weights_(std::move(weights)),
      allocator_(options.allocator) {
  spec_.model_type = config_.model_type();
  spec_.num_layers = static_cast<int>(config_.decoder_layers());
  spec_.num_heads = static_cast<int>(config_.num_heads);
  spec_.num_kv_heads = spec_.num_heads;
  spec_.head_dim = static_cast<int>(config_.d_kv);
  spec_.vocab_size = config_.vocab_size;
  spec_.device = options.allocator->device();
  spec_.max_positions = config_.n_positions;
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);
  spec_.encoder_decoder = true;
  spec_.max_encoder_positions = config_.n_positions;
  spec_.decoder_start_token_id = config_.decoder_start();

  // From the fp32 host weights, before they move: the bias tables and the rescaled final norm.
  ExecContext ctx;
  ctx.device = spec_.device;
  const int64_t R = config_.relative_attention_max_distance;
  const auto tables = [&](const std::vector<T5LayerWeights>& layers, bool bidirectional) {
    std::vector<Tensor> out;
    for (const T5LayerWeights& l : layers)
      out.push_back(l.rel_bias.defined()
                        ? ops::to_device(relative_bias_table(l.rel_bias, bidirectional, R),
                                         DType::kFloat32, allocator_, ctx)
                        : out.back());  // T5/mT5: block 0's table (block 0 always has one)
    return out;
  };
  enc_bias_ = tables(weights_.encoder, /*bidirectional=*/true);
  dec_bias_ = tables(weights_.decoder, /*bidirectional=*/false);
  Tensor scaled = Tensor::empty({config_.d_model}, DType::kFloat32);  // [d_model]
  // HF multiplies the normed output by the Python float d_model**-0.5 (float32 on the tensor).
  const float s = config_.scale_decoder_outputs
                      ? static_cast<float>(std::pow(static_cast<double>(config_.d_model), -0.5))
                      : 1.f;
  for (int64_t i = 0; i < config_.d_model; ++i)
    scaled.data<float>()[i] = weights_.dec_final_norm.data<float>()[i] * s;
  dec_final_scaled_ = ops::to_device(scaled, spec_.dtype, allocator_, ctx);

  const std::vector<WeightEntry> entries = weight_map(config_, storage_, weights_);
  move_weights(entries, spec_.dtype, allocator_);
  tie_weights(storage_, weights_);
  // A decoder step reads the decoder blocks, its final norm and the LM head (the encoder runs
  // once per request; embeddings are read by row).
  spec_.weight_bytes = static_cast<int64_t>(weights_.lm_head.nbytes());
  for (const WeightEntry& e : entries)
    if (e.kiln_name.rfind("decoder.layers.", 0) == 0 || e.kiln_name == "decoder.final_norm.weight")
      spec_.weight_bytes += static_cast<int64_t>(e.tensor->nbytes());
  // The encoder's matmul weights (prefill FLOP accounting).
  for (const WeightEntry& e : entries)
    if (e.kiln_name.rfind("encoder.layers.", 0) == 0)
      spec_.encoder_weight_bytes += static_cast<int64_t>(e.tensor->nbytes());
  spec_.encoder_layers = static_cast<int>(config_.num_layers);
  spec_.encoder_heads = static_cast<int>(config_.num_heads);
  spec_.encoder_head_dim = static_cast<int>(config_.d_kv);

  const float eps = static_cast<float>(config_.layer_norm_epsilon);
  for (size_t i = 0; i < weights_.encoder.size(); ++i)
    encoder_.push_back(make_block(weights_.encoder[i], enc_bias_[i], /*decoder=*/false));
  for (size_t i = 0; i < weights_.decoder.size(); ++i)
    decoder_.push_back(make_block(weights_.decoder[i], dec_bias_[i], /*decoder=*/true));
  enc_final_norm_ = {weights_.enc_final_norm, eps};
  dec_final_norm_ = {dec_final_scaled_, eps};
}

T5Model::Block T5Model::make_block(const T5LayerWeights& w, const Tensor& bias,
                                   bool decoder) const {
  const float eps = static_cast<float>(config_.layer_norm_epsilon);
  Block b;
  b.attn_norm = {w.attn_norm, eps};
  b.attn.qkv = {w.qkv, Tensor()};
  b.attn.out = {w.attn_out, Tensor()};
  b.attn.num_heads = spec_.num_heads;
  b.attn.num_kv_heads = spec_.num_heads;
  b.attn.head_dim = spec_.head_dim;
  b.attn.scale = 1.f;  // T5 does not scale q·k
  b.attn.position_bias = bias;
  if (decoder) {
    b.cross_norm = {w.cross_norm, eps};
    b.cross.q = {w.cross_q, Tensor()};
    b.cross.kv = {w.cross_kv, Tensor()};
    b.cross.out = {w.cross_out, Tensor()};
    b.cross.num_heads = spec_.num_heads;
    b.cross.head_dim = spec_.head_dim;
    b.cross.scale = 1.f;
  }
  b.ff_norm = {w.ff_norm, eps};
  b.ff.gated = config_.is_gated_act;
  if (b.ff.gated)
    b.ff.gated_mlp = {{w.wi, Tensor()}, {w.wo, Tensor()}, config_.act};
  else
    b.ff.mlp = {{w.wi, Tensor()}, {w.wo, Tensor()}, config_.act};
  return b;
}

void T5Model::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  const int64_t d = config_.d_model, inner = config_.inner_dim();
  const int64_t ffn = config_.is_gated_act ? 3 * config_.d_ff : config_.d_ff;
  // Encoder scratch K/V pools: the runtime's bound on scratch_blocks * block_size.
  max_num_tokens_ = max_num_tokens;
  max_scratch_tokens_ = max_num_tokens + 16 * (max_logit_rows + 1);
  // Live at once: h, normed, tmp (3 x d), then the self-attention's qkv + output (4 x inner), the
  // cross-attention's q + output or K|V (2 x inner), or the FFN's wi output + hidden; encode also
  // holds the scratch K and V (2 x inner per scratch token); at the end of forward the gathered
  // rows (2 x d) and the fp32 logits.
  const int64_t es = static_cast<int64_t>(dtype_size(spec_.dtype));
  reserve_step_workspace(ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
                         {.per_token = 3 * d + std::max(4 * inner, ffn) + 2 * inner,
                          .per_logit_row = 2 * d + 16 * 2 * inner,
                          .vocab_size = config_.vocab_size,
                          .extra_bytes = 16 * 2 * inner * es + 4 * 256});
}

void T5Model::encode(const layers::EncoderBatch& batch, layers::KvCacheView& kv, ExecContext& ctx) {
  const char* type = config_.model_type();
  const int64_t n = batch.num_tokens(), d = config_.d_model;
  const DType dt = spec_.dtype;
  KILN_CHECK(n > 0, "{}: empty encoder batch", type);
  KILN_CHECK(kv.k.size() == decoder_.size() && kv.v.size() == decoder_.size(),
             "{}: KV cache has {} layers, the decoder {}", type, kv.k.size(), decoder_.size());
  KILN_CHECK(n <= max_num_tokens_ && batch.scratch_blocks * batch.block_size <= max_scratch_tokens_,
             "{}: encoder batch of {} tokens / {} scratch tokens exceeds the reserved {} / {} "
             "(call reserve())",
             type, n, batch.scratch_blocks * batch.block_size, max_num_tokens_,
             max_scratch_tokens_);
  ws_.reset();
  const Shape pool = {batch.scratch_blocks, config_.num_heads, batch.block_size, config_.d_kv};
  Tensor k_scratch = ws_.take(pool, dt);  // [scratch_blocks, heads, block_size, d_kv]
  Tensor v_scratch = ws_.take(pool, dt);  // [scratch_blocks, heads, block_size, d_kv]
  Tensor h = ws_.take({n, d}, dt);        // [n, d] residual stream
  Tensor normed = ws_.take({n, d}, dt);   // [n, d]; at the end the encoder output
  Tensor tmp = ws_.take({n, d}, dt);      // [n, d] sublayer output
  ops::embedding(batch.input_ids, weights_.enc_embed, h, /*accumulate=*/false, ctx);

  const size_t mark = ws_.used();
  encoder_[0].attn_norm.forward(h, normed, ctx);
  for (size_t i = 0; i < encoder_.size(); ++i) {
    const Block& b = encoder_[i];
    b.attn.forward_encoder(normed, batch, k_scratch, v_scratch, tmp, ws_, ctx);
    ws_.rewind(mark);
    b.ff_norm.add_forward(h, tmp, normed, ctx);
    b.ff.forward(normed, tmp, ws_, ctx);
    ws_.rewind(mark);
    if (i + 1 < encoder_.size())
      encoder_[i + 1].attn_norm.add_forward(h, tmp, normed, ctx);
    else
      ops::add(h, tmp, h, ctx);
  }
  enc_final_norm_.forward(h, normed, ctx);  // encoder_hidden_states [n, d]
  for (size_t l = 0; l < decoder_.size(); ++l) {
    decoder_[l].cross.write_kv(normed, batch.cross_slots, kv.k[l], kv.v[l], ws_, ctx);
    ws_.rewind(mark);
  }
}

Tensor T5Model::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                        ExecContext& ctx) {
  const char* type = config_.model_type();
  const DType dt = spec_.dtype;
  KILN_CHECK(kv.v.size() == kv.k.size(), "{}: KV cache has {} K and {} V layers", type, kv.k.size(),
             kv.v.size());
  KILN_CHECK(batch.cross.block_tables.defined(),
             "{}: the decoder batch has no cross-attention metadata (sequences without encoder "
             "input?)",
             type);
  auto [h, normed, tmp] = begin_forward(type, batch, kv, decoder_.size(), config_.d_model, dt, ws_);
  ops::embedding(batch.input_ids, weights_.dec_embed, h, /*accumulate=*/false, ctx);

  const size_t mark = ws_.used();
  decoder_[0].attn_norm.forward(h, normed, ctx);
  for (size_t i = 0; i < decoder_.size(); ++i) {
    const Block& b = decoder_[i];
    b.attn.forward(normed, batch, kv.k[i], kv.v[i], tmp, ws_, ctx);
    ws_.rewind(mark);
    b.cross_norm.add_forward(h, tmp, normed, ctx);
    b.cross.forward(normed, batch, kv.k[i], kv.v[i], tmp, ws_, ctx);
    ws_.rewind(mark);
    b.ff_norm.add_forward(h, tmp, normed, ctx);
    b.ff.forward(normed, tmp, ws_, ctx);
    ws_.rewind(mark);
    if (i + 1 < decoder_.size())
      decoder_[i + 1].attn_norm.add_forward(h, tmp, normed, ctx);
    else
      ops::add(h, tmp, h, ctx);
  }
  // The final norm (with the d_model^-0.5 rescale folded in) runs on the logit rows only.
  Tensor last = layers::gather_logit_rows(h, batch, ws_, ctx);  // [m, d]
  Tensor last_normed = ws_.take(last.shape(), dt);              // [m, d]
  dec_final_norm_.forward(last, last_normed, ctx);
  return layers::lm_head_logits(last_normed, weights_.lm_head, ws_, ctx);  // [m, vocab] fp32
}

void T5Model::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, storage_, weights_),
                       dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const T5Config config = T5Config::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  T5Weights w;
  T5Storage s;
  if (cfg.has("kiln_checkpoint")) {
    s = kiln_storage(ckpt);
    load_weights(ckpt, weight_map(config, s, w), /*kiln_format=*/true);
    tie_weights(s, w);
  } else {
    const std::string prefix = find_t5_prefix(ckpt);
    s = hf_storage(ckpt, prefix);
    load_hf_weights(ckpt, config, s, w, prefix);
  }
  return std::make_unique<T5Model>(config, std::move(w), s, options);
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  // The CLI's generic size flags (GPT-2 names) stand in for T5's names when those are absent.
  nlohmann::json j = arch.json();
  for (const auto& [generic, t5_name] : {std::pair{"n_layer", "num_layers"},
                                         {"n_embd", "d_model"},
                                         {"n_head", "num_heads"},
                                         {"n_inner", "d_ff"}}) {
    if (j.contains(generic) && !j.contains(t5_name)) j[t5_name] = j[generic];
    j.erase(generic);
  }
  const T5Config c = T5Config::from_json(io::JsonConfig::from_json(j, arch.source()));
  T5Storage s;
  s.lm_head = !c.tie_word_embeddings;
  T5Weights w;
  fill_random_weights(weight_map(c, s, w), seed);
  tie_weights(s, w);
  return std::make_unique<T5Model>(c, std::move(w), s, options);
}

}  // namespace kiln::models::t5
