// GPT-2 (Radford et al. 2019): learned token + position embeddings, pre-LN blocks of fused-QKV
// causal self-attention and a two-layer MLP, a final LayerNorm and an LM head tied to wte — the
// shared GPT model shell (common/gpt_model.h) over GPT-2's config and Conv1D weight map.
#pragma once

#include <memory>
#include <string>

#include "models/common/gpt_model.h"
#include "models/gpt2/config.h"
#include "models/gpt2/weights.h"

namespace kiln::models::gpt2 {

using Gpt2Model = GptModel<Gpt2Config>;

// Registry entry: HF GPT-2 folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Registry entry for random_model: architecture flags -> model with random weights.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::gpt2
