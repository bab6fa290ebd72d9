#include "models/gpt_bigcode/model.h"

#include <cmath>

#include "io/checkpoint.h"
#include "models/common/device_weights.h"
#include "models/common/ln_fold.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::gpt_bigcode {

GptBigCodeModel::GptBigCodeModel(const GptBigCodeConfig& config, GptBigCodeWeights weights,
                                 const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  spec_.model_type = "gpt_bigcode";
  spec_.num_layers = static_cast<int>(config_.n_layer);
  spec_.num_heads = static_cast<int>(config_.n_head);
  spec_.num_kv_heads = static_cast<int>(config_.kv_heads());
  spec_.head_dim = static_cast<int>(config_.head_dim());
  spec_.vocab_size = config_.vocab_size;
  spec_.max_positions = config_.n_positions;
  spec_.device = options.allocator->device();
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);

  // LayerNorms folded into qkv / fc1 on the fp32 host weights, before they move (ln_fold.h).
  const std::vector<Tensor> row_sums = fold_gpt_layer_norms(weights_, spec_.device, spec_.dtype,
                                                            options.fold_layer_norms, allocator_);
  spec_.weight_bytes = move_weights(weight_map(config_, weights_, ""), spec_.dtype, allocator_);
  for (const Tensor& t : row_sums) spec_.weight_bytes += static_cast<int64_t>(t.nbytes());
  if (config_.tie_word_embeddings) weights_.lm_head = weights_.wte;
  spec_.weight_bytes -= static_cast<int64_t>(weights_.wpe.nbytes());  // one row per token

  const float eps = static_cast<float>(config_.layer_norm_epsilon);
  const ops::ActivationKind act = ops::activation_from_name(config_.activation_function);
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    GptBlock b = gpt_block(weights_.layers[i], eps, act);
    b.attn.num_heads = spec_.num_heads;
    b.attn.num_kv_heads = spec_.num_kv_heads;  // 1 with multi_query: K/V shared by every head
    b.attn.head_dim = spec_.head_dim;
    b.attn.scale =
        config_.scale_attn_weights ? 1.f / std::sqrt(static_cast<float>(spec_.head_dim)) : 1.f;
    attach_row_sums(row_sums, i, b);
    blocks_.push_back(std::move(b));
  }
  ln_f_ = {weights_.ln_f_w, weights_.ln_f_b, eps};
}

void GptBigCodeModel::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  const int64_t d = config_.n_embd;
  const int64_t qkv = d + 2 * config_.kv_heads() * config_.head_dim();
  // Live at once: h, tmp, normed (3 x d), then qkv + attn (d) or the MLP hidden (inner); at the
  // end the gathered rows (2 x d) and the fp32 logits.
  reserve_step_workspace(ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
                         {.per_token = 3 * d + std::max(qkv + d, config_.inner()),
                          .per_logit_row = 2 * d,
                          .vocab_size = config_.vocab_size});
}

Tensor GptBigCodeModel::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                                ExecContext& ctx) {
  return gpt_forward("gpt_bigcode", weights_, blocks_, ln_f_, spec_.dtype, batch, kv, ws_, ctx);
}

void GptBigCodeModel::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, weights_, ""), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const GptBigCodeConfig config = GptBigCodeConfig::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  const bool kiln_format = cfg.has("kiln_checkpoint");
  // GPTBigCodeForCausalLM saves "transformer.h.0...."; GPTBigCodeModel files have no prefix.
  const std::string prefix =
      kiln_format ? "" : find_hf_prefix(ckpt, "wte.weight", {"transformer."}).value_or("");
  GptBigCodeWeights w;
  load_weights(ckpt, weight_map(config, w, prefix), kiln_format);
  if (!kiln_format) regroup_mha_qkv(config, w);
  return std::make_unique<GptBigCodeModel>(config, std::move(w), options);
}

GptBigCodeWeights random_weights(const GptBigCodeConfig& config, uint64_t seed) {
  GptBigCodeWeights w;
  fill_random_weights(weight_map(config, w, ""), seed);
  return w;
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  const GptBigCodeConfig c = GptBigCodeConfig::from_json(arch);
  return std::make_unique<GptBigCodeModel>(c, random_weights(c, seed), options);
}

}  // namespace kiln::models::gpt_bigcode
