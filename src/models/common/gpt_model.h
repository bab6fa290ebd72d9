// The model shell GPT-2 and GPTBigCode share: learned token + position embeddings, pre-LN blocks
// of fused-QKV causal self-attention (MHA, or MQA/GQA through Config::kv_heads()) and a two-layer
// MLP, a final LayerNorm and an LM head tied to wte unless the config unties it. A family
// supplies its Config and its weight map; the rest — weights moved to the device (LayerNorms
// folded first), blocks, step workspace, forward, save, load, random weights — is this file.
//
// Config provides: kModelType, n_layer, n_head, n_embd, vocab_size, n_positions,
// layer_norm_epsilon, activation_function, tie_word_embeddings, inner(), head_dim(), kv_heads(),
// attention_scale(layer) (HF's score scale of that layer), from_json, to_json, and
// weight_map(config, GptWeights&, hf_prefix) in its namespace (found by argument lookup).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/workspace.h"
#include "io/checkpoint.h"
#include "io/json_config.h"
#include "models/common/device_weights.h"
#include "models/common/gpt_block.h"
#include "models/common/gpt_weights.h"
#include "models/common/ln_fold.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "models/model.h"
#include "models/registry.h"
#include "ops/ops.h"

namespace kiln::models {

template <class Config>
class GptModel final : public Model {
 public:
  // weights: fp32 host tensors in kiln layout; moved to options.device in options.dtype.
  GptModel(const Config& config, GptWeights weights, const LoadOptions& options)
      : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
    spec_.model_type = Config::kModelType;
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
    // Every weight to the device in the compute dtype (a no-op for fp32 on the CPU).
    spec_.weight_bytes = move_weights(weight_map(config_, weights_, ""), spec_.dtype, allocator_);
    for (const Tensor& t : row_sums) spec_.weight_bytes += static_cast<int64_t>(t.nbytes());
    if (config_.tie_word_embeddings) weights_.lm_head = weights_.wte;
    // Each step reads one wpe row per token, not the table.
    spec_.weight_bytes -= static_cast<int64_t>(weights_.wpe.nbytes());

    const float eps = static_cast<float>(config_.layer_norm_epsilon);
    const ops::ActivationKind act = ops::activation_from_name(config_.activation_function);
    for (size_t i = 0; i < weights_.layers.size(); ++i) {
      GptBlock b = gpt_block(weights_.layers[i], eps, act);
      b.attn.num_heads = spec_.num_heads;
      b.attn.num_kv_heads = spec_.num_kv_heads;
      b.attn.head_dim = spec_.head_dim;
      b.attn.scale = config_.attention_scale(static_cast<int64_t>(i));
      attach_row_sums(row_sums, i, b);
      blocks_.push_back(std::move(b));
    }
    ln_f_ = {weights_.ln_f_w, weights_.ln_f_b, eps};
  }

  const ModelSpec& spec() const override { return spec_; }
  const Config& config() const { return config_; }

  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override {
    const int64_t d = config_.n_embd;
    const int64_t qkv = d + 2 * config_.kv_heads() * config_.head_dim();
    // Live at once: h, tmp, normed (3 x d), then qkv + attn (d) or the MLP hidden (inner); at
    // the end the gathered rows (2 x d) and the fp32 logits.
    reserve_step_workspace(ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
                           {.per_token = 3 * d + std::max(qkv + d, config_.inner()),
                            .per_logit_row = 2 * d,
                            .vocab_size = config_.vocab_size});
  }

  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override {
    return gpt_forward(Config::kModelType, weights_, blocks_, ln_f_, spec_.dtype, batch, kv, ws_,
                       ctx);
  }

  void save(const std::string& dir, DType dtype) const override {
    save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, weights_, ""), dtype);
  }

 private:
  Config config_;
  mutable GptWeights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  std::vector<GptBlock> blocks_;
  layers::LayerNorm ln_f_;
  Workspace ws_;
};

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
template <class Config>
GptWeights random_gpt_weights(const Config& config, uint64_t seed) {
  GptWeights w;
  fill_random_weights(weight_map(config, w, ""), seed);
  return w;
}

// Registry entry: HF folder or kiln checkpoint -> model. HF's ...ForCausalLM files prefix the
// body with "transformer." (lm_head.weight never is); the bare model classes' files do not.
// from_hf: a fix-up of weights read from a HF folder (not from a kiln checkpoint), or null.
template <class Config>
std::unique_ptr<Model> load_gpt_model(const std::string& dir, const io::JsonConfig& cfg,
                                      const LoadOptions& options,
                                      void (*from_hf)(const Config&, GptWeights&) = nullptr) {
  const Config config = Config::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  const bool kiln_format = cfg.has("kiln_checkpoint");
  const std::string prefix =
      kiln_format ? "" : find_hf_prefix(ckpt, "wte.weight", {"transformer."}).value_or("");
  GptWeights w;
  load_weights(ckpt, weight_map(config, w, prefix), kiln_format);
  if (!kiln_format && from_hf) from_hf(config, w);
  return std::make_unique<GptModel<Config>>(config, std::move(w), options);
}

// Registry entry for random_model: architecture flags -> model with random weights.
template <class Config>
std::unique_ptr<Model> random_gpt_model(const io::JsonConfig& arch, uint64_t seed,
                                        const LoadOptions& options) {
  const Config c = Config::from_json(arch);
  return std::make_unique<GptModel<Config>>(c, random_gpt_weights(c, seed), options);
}

}  // namespace kiln::models
