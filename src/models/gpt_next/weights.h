// GPT-Next weights and their kiln names. There is no HF format: tools/convert_nemo.py maps
// Megatron's names (legacy NeMo and Megatron-core) to these, regrouping the fused QKV rows into
// [all q; all k; all v] and keeping fc1 as [gate; up] (SwiGLU: silu(gate) * up).
#pragma once

#include <vector>

#include "core/tensor.h"
#include "models/gpt_next/config.h"
#include "models/weight_map.h"

namespace kiln::models::gpt_next {

using models::WeightEntry;

struct GptNextLayerWeights {
  Tensor input_norm_w;  // [hidden] (layernorm1p: stored as weight - 1)
  Tensor input_norm_b;  // [hidden] (not with rmsnorm)
  Tensor qkv_w;         // [(heads + 2 * groups) * head_dim, hidden]: [q; k; v]
  Tensor out_w;         // [hidden, heads * head_dim]
  Tensor post_norm_w;   // [hidden]
  Tensor post_norm_b;   // [hidden] (not with rmsnorm)
  Tensor gate_up_w;     // [2 * ffn, hidden]: [gate; up]
  Tensor down_w;        // [hidden, ffn]
};

struct GptNextWeights {
  Tensor embed;  // [vocab, hidden]
  std::vector<GptNextLayerWeights> layers;
  Tensor final_norm_w;  // [hidden]
  Tensor final_norm_b;  // [hidden] (not with rmsnorm)
  Tensor lm_head;       // [vocab, hidden]; shares embed's storage when tied
};

// Every weight (lm_head only when untied, norm biases only for layernorm / layernorm1p).
std::vector<WeightEntry> weight_map(const GptNextConfig& c, GptNextWeights& w);

}  // namespace kiln::models::gpt_next
