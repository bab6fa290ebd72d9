#include "models/gpt2/model.h"

#include <cmath>

#include "io/checkpoint.h"
#include "models/common/device_weights.h"
#include "models/common/ln_fold.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::gpt2 {

Gpt2Model::Gpt2Model(const Gpt2Config& config, Gpt2Weights weights, const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  spec_.model_type = "gpt2";
  spec_.num_layers = static_cast<int>(config_.n_layer);
  spec_.num_heads = spec_.num_kv_heads = static_cast<int>(config_.n_head);
  spec_.head_dim = static_cast<int>(config_.head_dim());
  spec_.vocab_size = config_.vocab_size;
  spec_.max_positions = config_.n_positions;
  spec_.device = options.allocator->device();
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);

  // LayerNorms folded into qkv / fc1 on the fp32 host weights, before they move (ln_fold.h).
  const std::vector<Tensor> row_sums = fold_gpt_layer_norms(weights_, spec_.device, spec_.dtype,
                                                            options.fold_layer_norms, allocator_);
  // Move every weight to the device in the compute dtype (a no-op for fp32 on the CPU).
  spec_.weight_bytes = move_weights(weight_map(config_, weights_, ""), spec_.dtype, allocator_);
  for (const Tensor& t : row_sums) spec_.weight_bytes += static_cast<int64_t>(t.nbytes());
  if (config_.tie_word_embeddings) weights_.lm_head = weights_.wte;
  // Each step reads one wpe row per token, not the table.
  spec_.weight_bytes -= static_cast<int64_t>(weights_.wpe.nbytes());

  const float eps = static_cast<float>(config_.layer_norm_epsilon);
  const ops::ActivationKind act = ops::activation_from_name(config_.activation_function);
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    GptBlock b = gpt_block(weights_.layers[i], eps, act);
    b.attn.num_heads = b.attn.num_kv_heads = spec_.num_kv_heads;
    b.attn.head_dim = spec_.head_dim;
    // HF: scores / sqrt(head_dim) if scale_attn_weights, and / (layer_idx + 1) if
    // scale_attn_by_inverse_layer_idx.
    float scale =
        config_.scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(spec_.head_dim)) : 1.f;
    if (config_.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(i + 1);
    b.attn.scale = scale;
    attach_row_sums(row_sums, static_cast<size_t>(i), b);
    blocks_.push_back(std::move(b));
  }
  ln_f_ = {weights_.ln_f_w, weights_.ln_f_b, eps};
}

void Gpt2Model::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  const int64_t d = config_.n_embd;
  // Live at once: h, tmp, normed (3 x d), then qkv (3d) + attn (d) or the MLP hidden (inner);
  // at the end the gathered rows (2 x d) and the fp32 logits.
  reserve_step_workspace(ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
                         {.per_token = 3 * d + std::max(4 * d, config_.inner()),
                          .per_logit_row = 2 * d,
                          .vocab_size = config_.vocab_size});
}

Tensor Gpt2Model::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                          ExecContext& ctx) {
  return gpt_forward("gpt2", weights_, blocks_, ln_f_, spec_.dtype, batch, kv, ws_, ctx);
}

void Gpt2Model::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, weights_, ""), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const Gpt2Config config = Gpt2Config::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  const bool kiln_format = cfg.has("kiln_checkpoint");
  // GPT2LMHeadModel saves "transformer.h.0...."; the original GPT2Model files have no prefix.
  const std::string prefix =
      kiln_format ? "" : find_hf_prefix(ckpt, "wte.weight", {"transformer."}).value_or("");
  Gpt2Weights w;
  load_weights(ckpt, weight_map(config, w, prefix), kiln_format);
  return std::make_unique<Gpt2Model>(config, std::move(w), options);
}

Gpt2Weights random_weights(const Gpt2Config& config, uint64_t seed) {
  Gpt2Weights w;
  fill_random_weights(weight_map(config, w, ""), seed);
  return w;
}

}  // namespace kiln::models::gpt2
