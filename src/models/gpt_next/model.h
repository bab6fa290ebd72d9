// GPT-Next (NeMo Megatron GPT): token embeddings, pre-norm blocks (LayerNorm, LayerNorm1p or
// RMSNorm) of fused-QKV causal self-attention with rotary positions on part of each head
// (rotary_percentage; GQA by num_query_groups) and a bias-free SwiGLU MLP, a final norm and an LM
// head (tied or not). Loaded from the kiln checkpoint tools/convert_nemo.py writes from a .nemo.
#pragma once

#include <memory>

#include "core/workspace.h"
#include "layers/attention.h"
#include "layers/gated_mlp.h"
#include "layers/rotary.h"
#include "models/gpt_next/config.h"
#include "models/gpt_next/weights.h"
#include "models/model.h"
#include "models/registry.h"

namespace kiln::models::gpt_next {

// One norm of the family: LayerNorm (weight, bias; layernorm1p's weight + 1 folded in at load) or
// RMSNorm (weight).
struct Norm {
  Tensor weight;  // [hidden] effective weight
  Tensor bias;    // [hidden]; undefined for RMSNorm
  float eps = 1e-5f;
  bool rms = false;
  void forward(const Tensor& x, Tensor& out, ExecContext& ctx) const;
  // residual += delta; out = norm(residual).
  void add_forward(Tensor& residual, const Tensor& delta, Tensor& out, ExecContext& ctx) const;
};

class GptNextModel final : public Model {
 public:
  // weights: fp32 host tensors; moved to options.device in options.dtype (CPU: fp32).
  GptNextModel(const GptNextConfig& config, GptNextWeights weights, const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const GptNextConfig& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  struct Block {
    Norm input_norm;
    layers::SelfAttention attn;
    Norm post_norm;
    layers::GatedMlp mlp;
  };
  GptNextConfig config_;
  mutable GptNextWeights weights_;  // on spec_.device in spec_.dtype, norm weights as stored
  ModelSpec spec_;
  Allocator* allocator_;
  std::shared_ptr<layers::RotaryEmbedding> rotary_;
  std::vector<Block> blocks_;
  Norm final_norm_;
  Workspace ws_;
};

// Registry entry: kiln checkpoint (tools/convert_nemo.py) -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// A model with seeded random weights from config fields (models::random_model's entry).
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::gpt_next
