// LLaMA (Touvron et al. 2023) and its family: token embeddings, pre-RMSNorm blocks of fused-QKV
// causal self-attention with rotary positions (GQA/MQA by num_key_value_heads) and a gated MLP
// (SwiGLU by default), a final RMSNorm and an LM head (tied or not).
#pragma once

#include <memory>

#include "core/workspace.h"
#include "layers/attention.h"
#include "layers/gated_mlp.h"
#include "layers/rms_norm.h"
#include "layers/rotary.h"
#include "models/llama/config.h"
#include "models/llama/weights.h"
#include "models/model.h"
#include "models/registry.h"

namespace kiln::models::llama {

class LlamaModel final : public Model {
 public:
  // weights: fp32 host tensors; moved to options.device in options.dtype (CPU: fp32).
  LlamaModel(const LlamaConfig& config, LlamaWeights weights, const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const LlamaConfig& config() const { return config_; }
  const layers::RotaryEmbedding& rotary() const { return *rotary_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  struct Block {
    layers::RmsNorm input_norm;
    layers::SelfAttention attn;
    layers::RmsNorm post_norm;
    layers::GatedMlp mlp;
  };
  LlamaConfig config_;
  mutable LlamaWeights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  std::shared_ptr<layers::RotaryEmbedding> rotary_;
  std::vector<Block> blocks_;
  layers::RmsNorm norm_;
  Workspace ws_;
};

// Registry entry: HF LLaMA folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
LlamaWeights random_weights(const LlamaConfig& config, uint64_t seed);
// A model with those weights from HF config fields (models::random_model's llama entry).
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::llama
