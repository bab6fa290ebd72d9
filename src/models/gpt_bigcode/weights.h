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
#include "models/gpt_bigcode/config.h"
#include "models/weight_map.h"

namespace kiln::models::gpt_bigcode {

using models::WeightEntry;

struct GptBigCodeLayerWeights {
  Tensor ln_1_w, ln_1_b;      // [n_embd]
  Tensor qkv_w;               // [n_embd + 2 * kv_heads * head_dim, n_embd]: q | k | v
  Tensor qkv_b;               // [n_embd + 2 * kv_heads * head_dim]
  Tensor attn_out_w;          // [n_embd, n_embd]
  Tensor attn_out_b;          // [n_embd]
  Tensor ln_2_w, ln_2_b;      // [n_embd]
  Tensor fc_w;                // [inner, n_embd]
  Tensor fc_b;                // [inner]
  Tensor proj_w;              // [n_embd, inner]
  Tensor proj_b;              // [n_embd]
};

struct GptBigCodeWeights {
  Tensor wte;                 // [vocab_size, n_embd]
  Tensor wpe;                 // [n_positions, n_embd]
  std::vector<GptBigCodeLayerWeights> layers;
  Tensor ln_f_w, ln_f_b;      // [n_embd]
  Tensor lm_head;             // [vocab_size, n_embd]; shares wte's storage when tied
};

// Every weight of the model; lm_head is listed only when untied. hf_prefix is "transformer." for
// GPTBigCodeForCausalLM files and "" for GPTBigCodeModel ones (lm_head.weight is never prefixed).
std::vector<WeightEntry> weight_map(const GptBigCodeConfig& c, GptBigCodeWeights& w,
                                    const std::string& hf_prefix);

// HF's per-head interleaved MHA c_attn ([heads, 3, head_dim] rows) -> kiln's [3, heads, head_dim]
// rows, weight and bias of every layer. A no-op with multi_query.
void regroup_mha_qkv(const GptBigCodeConfig& c, GptBigCodeWeights& w);

}  // namespace kiln::models::gpt_bigcode
