// GPTBigCode (SantaCoder, StarCoder; Allal et al. 2023, Li et al. 2023): GPT-2's architecture —
// learned token + position embeddings, pre-LN blocks, final LayerNorm, LM head tied to wte — with
// multi-query attention (one K/V head, `multi_query`) or plain MHA, and nn.Linear weights.
#pragma once

#include <memory>

#include "core/workspace.h"
#include "models/common/gpt_block.h"
#include "models/gpt_bigcode/config.h"
#include "models/gpt_bigcode/weights.h"
#include "models/model.h"
#include "models/registry.h"

namespace kiln::models::gpt_bigcode {

class GptBigCodeModel final : public Model {
 public:
  // weights: fp32 host tensors in kiln layout; moved to options.device in options.dtype.
  GptBigCodeModel(const GptBigCodeConfig& config, GptBigCodeWeights weights,
                  const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const GptBigCodeConfig& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  GptBigCodeConfig config_;
  mutable GptBigCodeWeights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  std::vector<GptBlock> blocks_;
  layers::LayerNorm ln_f_;
  Workspace ws_;
};

// Registry entry: HF GPTBigCode folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
GptBigCodeWeights random_weights(const GptBigCodeConfig& config, uint64_t seed);

// Registry entry for random_model: architecture flags -> model with random weights.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::gpt_bigcode
