// GPT-2 (Radford et al. 2019): learned token + position embeddings, pre-LN blocks of fused-QKV
// causal self-attention and a two-layer MLP, a final LayerNorm and an LM head tied to wte.
#pragma once

#include <memory>

#include "core/workspace.h"
#include "models/common/gpt_block.h"
#include "models/gpt2/config.h"
#include "models/gpt2/weights.h"
#include "models/model.h"
#include "models/registry.h"

namespace kiln::models::gpt2 {

class Gpt2Model final : public Model {
 public:
  // weights: fp32 host tensors; moved to options.device in options.dtype (CPU: fp32).
  Gpt2Model(const Gpt2Config& config, Gpt2Weights weights, const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const Gpt2Config& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  Gpt2Config config_;
  mutable Gpt2Weights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  std::vector<GptBlock> blocks_;
  layers::LayerNorm ln_f_;
  Workspace ws_;
};

// Registry entry: HF GPT-2 folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
Gpt2Weights random_weights(const Gpt2Config& config, uint64_t seed);

}  // namespace kiln::models::gpt2
