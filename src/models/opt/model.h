// OPT (Zhang et al. 2022): token embeddings (optionally down-projected: project_in/project_out
// around the decoder when word_embed_proj_dim != hidden_size, opt-350m) plus learned positions
// with offset 2; blocks of fused-QKV causal self-attention (q scaled by head_dim^-0.5) and a
// two-layer MLP, pre-LN (do_layer_norm_before) or post-LN; a final LayerNorm in pre-LN models
// unless removed; an LM head tied to the token embeddings.
#pragma once

#include <memory>

#include "core/workspace.h"
#include "layers/linear.h"
#include "models/common/gpt_block.h"
#include "models/model.h"
#include "models/opt/config.h"
#include "models/opt/weights.h"
#include "models/registry.h"

namespace kiln::models::opt {

class OptModel final : public Model {
 public:
  // weights: fp32 host tensors with qkv fused; moved to options.device in options.dtype.
  OptModel(const OptConfig& config, OptWeights weights, const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const OptConfig& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  OptConfig config_;
  mutable OptWeights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  Tensor ln_ones_;      // [hidden] LayerNorm weight when layer_norm_elementwise_affine is false
  Tensor positions_;    // [max_position_embeddings, hidden]: embed_positions past the offset rows
  std::vector<GptBlock> blocks_;  // ln_1: self_attn_layer_norm, ln_2: final_layer_norm
  layers::LayerNorm final_ln_;  // weight undefined when the model has none
  Workspace ws_;
};

// Registry entry: HF OPT folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
OptWeights random_weights(const OptConfig& config, uint64_t seed);

// Registry entry for random_model: architecture flags -> model with random weights.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::opt
