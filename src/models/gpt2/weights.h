// GPT-2 weights and the one name map between kiln's names, Hugging Face's names and the struct.
// HF's Conv1D stores [in, out]; kiln keeps [out, in] (DESIGN §4), so those are transposed on load.
// Q, K and V stay fused in c_attn ([3 * n_embd, n_embd] after the transpose).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/gpt2/config.h"
#include "models/weight_map.h"

namespace kiln::models::gpt2 {

using models::WeightEntry;

struct Gpt2LayerWeights {
  Tensor ln_1_w, ln_1_b;      // [n_embd]
  Tensor qkv_w;               // [3 * n_embd, n_embd]
  Tensor qkv_b;               // [3 * n_embd]
  Tensor attn_out_w;          // [n_embd, n_embd]
  Tensor attn_out_b;          // [n_embd]
  Tensor ln_2_w, ln_2_b;      // [n_embd]
  Tensor fc_w;                // [inner, n_embd]
  Tensor fc_b;                // [inner]
  Tensor proj_w;              // [n_embd, inner]
  Tensor proj_b;              // [n_embd]
};

struct Gpt2Weights {
  Tensor wte;                 // [vocab_size, n_embd]
  Tensor wpe;                 // [n_positions, n_embd]
  std::vector<Gpt2LayerWeights> layers;
  Tensor ln_f_w, ln_f_b;      // [n_embd]
  Tensor lm_head;             // [vocab_size, n_embd]; shares wte's storage when tied
};

// Every weight of the model; lm_head is listed only when untied. hf_prefix is "transformer." for
// GPT2LMHeadModel files and "" for the original GPT2Model ones (lm_head.weight is never prefixed).
std::vector<WeightEntry> weight_map(const Gpt2Config& c, Gpt2Weights& w,
                                    const std::string& hf_prefix);

}  // namespace kiln::models::gpt2
