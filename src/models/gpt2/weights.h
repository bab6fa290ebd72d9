// GPT-2 weights and the one name map between kiln's names, Hugging Face's names and the struct.
// HF's Conv1D stores [in, out]; kiln keeps [out, in] (DESIGN §4), so those are transposed on load.
// Q, K and V stay fused in c_attn ([3 * n_embd, n_embd] after the transpose).
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/common/gpt_weights.h"
#include "models/gpt2/config.h"
#include "models/weight_map.h"

namespace kiln::models::gpt2 {

using models::WeightEntry;

// GPT-2's names and struct (common/gpt_weights.h): qkv_w is [3 * n_embd, n_embd].
using Gpt2LayerWeights = GptLayerWeights;
using Gpt2Weights = GptWeights;

// Every weight of the model; lm_head is listed only when untied. hf_prefix is "transformer." for
// GPT2LMHeadModel files and "" for the original GPT2Model ones (lm_head.weight is never prefixed).
std::vector<WeightEntry> weight_map(const Gpt2Config& c, Gpt2Weights& w,
                                    const std::string& hf_prefix);

}  // namespace kiln::models::gpt2
