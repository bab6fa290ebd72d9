// GPTBigCode weights and the one name map between kiln's names, Hugging Face's names and the
// struct. GPTBigCode uses nn.Linear ([out, in], unlike GPT-2's Conv1D): nothing is transposed.
// kiln's fused qkv is [q (all heads) | k | v] rows. With multi_query HF's c_attn already is
// [q (n_embd) | k (head_dim) | v (head_dim)]; without it HF's rows are per head [q_h | k_h | v_h]
// (c_attn output viewed as [heads, 3 * head_dim]), so a HF folder's MHA c_attn is regrouped once
// at load (regroup_mha_qkv).
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/common/gpt_weights.h"
#include "models/gpt_bigcode/config.h"
#include "models/weight_map.h"

namespace kiln::models::gpt_bigcode {

using models::WeightEntry;

// GPT-2's names and struct (common/gpt_weights.h): qkv_w is
// [n_embd + 2 * kv_heads * head_dim, n_embd].
using GptBigCodeLayerWeights = GptLayerWeights;
using GptBigCodeWeights = GptWeights;

// Every weight of the model; lm_head is listed only when untied. hf_prefix is "transformer." for
// GPTBigCodeForCausalLM files and "" for GPTBigCodeModel ones (lm_head.weight is never prefixed).
std::vector<WeightEntry> weight_map(const GptBigCodeConfig& c, GptBigCodeWeights& w,
                                    const std::string& hf_prefix);

// HF's per-head interleaved MHA c_attn ([heads, 3, head_dim] rows) -> kiln's [3, heads, head_dim]
// rows, weight and bias of every layer. A no-op with multi_query.
void regroup_mha_qkv(const GptBigCodeConfig& c, GptBigCodeWeights& w);

}  // namespace kiln::models::gpt_bigcode
