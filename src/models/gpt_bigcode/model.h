// GPTBigCode (SantaCoder, StarCoder; Allal et al. 2023, Li et al. 2023): GPT-2's architecture —
// learned token + position embeddings, pre-LN blocks, final LayerNorm, LM head tied to wte — with
// multi-query attention (one K/V head, `multi_query`) or plain MHA, and nn.Linear weights: the
// shared GPT model shell (common/gpt_model.h) over GPTBigCode's config and weight map.
#pragma once

#include <memory>
#include <string>

#include "models/common/gpt_model.h"
#include "models/gpt_bigcode/config.h"
#include "models/gpt_bigcode/weights.h"

namespace kiln::models::gpt_bigcode {

using GptBigCodeModel = GptModel<GptBigCodeConfig>;

// Registry entry: HF GPTBigCode folder or kiln checkpoint -> model (a HF folder's MHA c_attn is
// regrouped to kiln's [q | k | v] rows, regroup_mha_qkv).
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Registry entry for random_model: architecture flags -> model with random weights.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::gpt_bigcode
