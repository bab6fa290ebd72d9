#include "models/llama/model.h"

#include <cmath>

#include "io/checkpoint.h"
#include "layers/lm_head.h"
#include "models/common/device_weights.h"
#include "models/common/prenorm_forward.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::llama {

LlamaModel::LlamaModel(const LlamaConfig& config, LlamaWeights weights, const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  spec_.model_type = "llama";
  spec_.num_layers = static_cast<int>(config_.num_hidden_layers);
  spec_.num_heads = static_cast<int>(config_.num_attention_heads);
  spec_.num_kv_heads = static_cast<int>(config_.kv_heads());
  spec_.head_dim = static_cast<int>(config_.head_size());
  spec_.vocab_size = config_.vocab_size;
  spec_.device = options.allocator->device();
  spec_.max_positions = config_.max_positions();
  spec_.dtype = compute_dtype(spec_.device, options.dtype, spec_.model_type);

  spec_.weight_bytes = move_weights(weight_map(config_, weights_), spec_.dtype, allocator_);
  if (config_.tie_word_embeddings) weights_.lm_head = weights_.embed;
  // Each step reads one embedding row per token; the head reads the whole table.
  if (!config_.tie_word_embeddings)
    spec_.weight_bytes -= static_cast<int64_t>(weights_.embed.nbytes());

  rotary_ = layers::RotaryEmbedding::create(config_.rope, allocator_, spec_.max_positions);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const ops::ActivationKind act = ops::activation_from_name(config_.hidden_act);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const LlamaLayerWeights& w = weights_.layers[i];
    Block b;
    b.input_norm = {w.input_norm, eps};
    b.post_norm = {w.post_norm, eps};
    b.attn.qkv = {w.qkv_w, w.qkv_b};
    b.attn.out = {w.o_w, w.o_b};
    b.attn.num_heads = spec_.num_heads;
    b.attn.num_kv_heads = spec_.num_kv_heads;
    b.attn.head_dim = spec_.head_dim;
    b.attn.scale = static_cast<float>(std::pow(static_cast<double>(spec_.head_dim), -0.5));
    b.attn.rotary = rotary_;
    b.mlp = {{w.gate_up_w, w.gate_up_b}, {w.down_w, w.down_b}, act};
    blocks_.push_back(std::move(b));
  }
  norm_ = {weights_.norm, eps};
}

void LlamaModel::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  reserve_step_workspace(
      ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
      prenorm_step_size(config_.hidden_size, config_.num_attention_heads, config_.kv_heads(),
                        config_.head_size(), config_.intermediate_size, config_.vocab_size,
                        rotary_->workspace_bytes()));
}

Tensor LlamaModel::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                           ExecContext& ctx) {
  return prenorm_forward("llama", weights_.embed, weights_.lm_head, blocks_, norm_, spec_.dtype,
                         batch, kv, ws_, ctx);
}

void LlamaModel::save(const std::string& dir, DType dtype) const {
  save_kiln_checkpoint(dir, spec_, config_.to_json(), weight_map(config_, weights_), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  const LlamaConfig config = LlamaConfig::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  LlamaWeights w;
  if (cfg.has("kiln_checkpoint")) {
    load_weights(ckpt, weight_map(config, w), /*kiln_format=*/true);
  } else {
    // LlamaForCausalLM saves "model.layers.0...."; a bare LlamaModel has no prefix.
    const std::string prefix = find_hf_prefix(ckpt, "embed_tokens.weight", {"model."}).value_or("");
    load_hf_weights(ckpt, config, w, prefix);
  }
  return std::make_unique<LlamaModel>(config, std::move(w), options);
}

LlamaWeights random_weights(const LlamaConfig& config, uint64_t seed) {
  LlamaWeights w;
  fill_random_weights(weight_map(config, w), seed);
  return w;
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  const LlamaConfig c = LlamaConfig::from_json(arch);
  return std::make_unique<LlamaModel>(c, random_weights(c, seed), options);
}

}  // namespace kiln::models::llama
