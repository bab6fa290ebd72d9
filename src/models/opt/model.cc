#include "models/opt/model.h"

#include <cmath>
#include <utility>

#include "io/checkpoint.h"
#include "layers/lm_head.h"
#include "models/common/device_weights.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::opt {

OptModel::OptModel(const OptConfig& config, OptWeights weights, const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  spec_.model_type = "opt";
  spec_.num_layers = static_cast<int>(config_.num_hidden_layers);
  spec_.num_heads = spec_.num_kv_heads = static_cast<int>(config_.num_attention_heads);
  spec_.head_dim = static_cast<int>(config_.head_dim());
  spec_.vocab_size = config_.vocab_size;
  spec_.max_positions = config_.max_position_embeddings;
  spec_.device = options.allocator->device();
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);

  spec_.weight_bytes =
      move_weights(weight_map(config_, weights_, "", /*split_qkv=*/false), spec_.dtype, allocator_);
  if (config_.tie_word_embeddings) weights_.lm_head = weights_.embed_tokens;
  spec_.weight_bytes -= static_cast<int64_t>(weights_.embed_positions.nbytes());
  // HF looks up position + 2; rows 0 and 1 are never read for unpadded sequences.
  positions_ = weights_.embed_positions.slice(0, OptConfig::kPositionOffset,
                                              weights_.embed_positions.size(0));

  const int64_t d = config_.hidden_size;
  const bool affine = config_.layer_norm_elementwise_affine;
  if (!affine) {  // elementwise_affine=False: no weight (all ones) and no bias
    Tensor ones = Tensor::empty({d}, DType::kFloat32);
    for (int64_t i = 0; i < d; ++i) ones.data<float>()[i] = 1.f;
    ExecContext ctx;
    ctx.device = spec_.device;
    ln_ones_ = ops::to_device(ones, spec_.dtype, allocator_, ctx);
  }
  auto norm = [&](const Tensor& w, const Tensor& b) {
    return layers::LayerNorm{affine ? w : ln_ones_, affine ? b : Tensor(),
                             OptConfig::kLayerNormEps};
  };
  const ops::ActivationKind act = ops::activation_from_name(config_.activation_function);
  for (const OptLayerWeights& w : weights_.layers) {
    GptBlock b;
    b.ln_1 = norm(w.attn_ln_w, w.attn_ln_b);
    b.ln_2 = norm(w.ffn_ln_w, w.ffn_ln_b);
    b.attn.qkv = {w.qkv_w, w.qkv_b};
    b.attn.out = {w.out_w, w.out_b};
    b.attn.num_heads = b.attn.num_kv_heads = spec_.num_heads;
    b.attn.head_dim = spec_.head_dim;
    // HF scales q by head_dim^-0.5 before q·k; the same factor on the scores.
    b.attn.scale = 1.f / std::sqrt(static_cast<float>(spec_.head_dim));
    b.mlp = {{w.fc1_w, w.fc1_b}, {w.fc2_w, w.fc2_b}, act};
    blocks_.push_back(std::move(b));
  }
  if (config_.has_final_layer_norm()) final_ln_ = norm(weights_.final_ln_w, weights_.final_ln_b);
}

void OptModel::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  const int64_t d = config_.hidden_size, e = config_.embed_dim();
  // Live at once: h, tmp, normed (3 x d), then the embeddings before project_in (e), qkv (3d) +
  // attn (d) or the MLP hidden (ffn_dim); at the end the gathered rows (2 x d + e) and the fp32
  // logits.
  reserve_step_workspace(ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
                         {.per_token = 3 * d + std::max({4 * d, config_.ffn_dim, e}),
                          .per_logit_row = 2 * d + e,
                          .vocab_size = config_.vocab_size});
}

Tensor OptModel::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                         ExecContext& ctx) {
  const int64_t n = batch.num_tokens(), d = config_.hidden_size, e = config_.embed_dim();
  const DType dt = spec_.dtype;
  KILN_CHECK(n > 0, "opt: empty batch");
  KILN_CHECK(static_cast<int64_t>(kv.k.size()) == config_.num_hidden_layers,
             "opt: KV cache has {} layers, model {}", kv.k.size(), config_.num_hidden_layers);
  ws_.reset();
  Tensor h = ws_.take({n, d}, dt);       // [n, d] residual stream
  Tensor normed = ws_.take({n, d}, dt);  // [n, d]
  Tensor tmp = ws_.take({n, d}, dt);     // [n, d] sublayer output
  const size_t mark = ws_.used();
  if (config_.has_projections()) {
    Tensor emb = ws_.take({n, e}, dt);  // [n, word_embed_proj_dim]
    ops::embedding(batch.input_ids, weights_.embed_tokens, emb, /*accumulate=*/false, ctx);
    ops::linear(emb, weights_.project_in, Tensor(), h, ctx);
    ws_.rewind(mark);
  } else {
    ops::embedding(batch.input_ids, weights_.embed_tokens, h, /*accumulate=*/false, ctx);
  }
  ops::embedding(batch.positions, positions_, h, /*accumulate=*/true, ctx);

  if (config_.do_layer_norm_before) {
    pre_ln_forward(blocks_, h, normed, tmp, batch, kv, ws_, ctx);
  } else {
    // Post-LN: h = LN(h + sublayer(h)). The normalised sum becomes the residual stream, so the
    // buffers swap roles after each LayerNorm.
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
      const GptBlock& b = blocks_[i];
      b.attn.forward(h, batch, kv.k[i], kv.v[i], tmp, ws_, ctx);
      ws_.rewind(mark);
      ops::add_layer_norm(h, tmp, b.ln_1.weight, b.ln_1.bias, b.ln_1.eps, normed, ctx);
      std::swap(h, normed);
      b.mlp.forward(h, tmp, ws_, ctx);
      ws_.rewind(mark);
      ops::add_layer_norm(h, tmp, b.ln_2.weight, b.ln_2.bias, b.ln_2.eps, normed, ctx);
      std::swap(h, normed);
    }
  }
  // Only the rows whose logits are wanted go through the final LayerNorm, project_out and the head.
  Tensor x = layers::gather_logit_rows(h, batch, ws_, ctx);  // [m, d]
  const int64_t m = x.size(0);
  if (final_ln_.weight.defined()) {
    Tensor y = ws_.take({m, d}, dt);
    final_ln_.forward(x, y, ctx);
    x = y;
  }
  if (config_.has_projections()) {
    Tensor y = ws_.take({m, e}, dt);
    ops::linear(x, weights_.project_out, Tensor(), y, ctx);
    x = y;
  }
  return layers::lm_head_logits(x, weights_.lm_head, ws_, ctx);  // [m, vocab] fp32
}

void OptModel::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, weights_, "", /*split_qkv=*/false), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const OptConfig config = OptConfig::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  OptWeights w;
  if (cfg.has("kiln_checkpoint")) {
    load_weights(ckpt, weight_map(config, w, "", /*split_qkv=*/false), /*kiln_format=*/true);
  } else {
    // OPTForCausalLM saves "model.decoder.*"; OPTModel files have "decoder.*".
    const std::string prefix =
        find_hf_prefix(ckpt, "embed_tokens.weight", {"model.decoder.", "decoder."})
            .value_or("model.decoder.");
    load_weights(ckpt, weight_map(config, w, prefix, /*split_qkv=*/true), /*kiln_format=*/false);
    fuse_qkv(config, w);
  }
  return std::make_unique<OptModel>(config, std::move(w), options);
}

OptWeights random_weights(const OptConfig& config, uint64_t seed) {
  OptWeights w;
  fill_random_weights(weight_map(config, w, "", /*split_qkv=*/false), seed);
  return w;
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  const OptConfig c = OptConfig::from_json(arch);
  return std::make_unique<OptModel>(c, random_weights(c, seed), options);
}

}  // namespace kiln::models::opt
