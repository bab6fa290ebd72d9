// The weights of GPT-2's architecture under GPT-2's names, shared by GPT-2 and GPTBigCode (which
// keeps GPT-2's module names: wte, wpe, h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
// mlp.c_proj}, ln_f). The families differ in the fused qkv's rows (MQA) and in HF's storage
// (GPT-2's Conv1D [in, out] vs nn.Linear [out, in]); each family's weights.h states its own.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/common/config_fields.h"
#include "models/weight_map.h"

namespace kiln::models {

struct GptLayerWeights {
  Tensor ln_1_w, ln_1_b;  // [n_embd]
  Tensor qkv_w;           // [qkv_rows, n_embd]: q | k | v
  Tensor qkv_b;           // [qkv_rows]
  Tensor attn_out_w;      // [n_embd, n_embd]
  Tensor attn_out_b;      // [n_embd]
  Tensor ln_2_w, ln_2_b;  // [n_embd]
  Tensor fc_w;            // [inner, n_embd]
  Tensor fc_b;            // [inner]
  Tensor proj_w;          // [n_embd, inner]
  Tensor proj_b;          // [n_embd]
};

struct GptWeights {
  Tensor wte;  // [vocab_size, n_embd]
  Tensor wpe;  // [n_positions, n_embd]
  std::vector<GptLayerWeights> layers;
  Tensor ln_f_w, ln_f_b;  // [n_embd]
  Tensor lm_head;         // [vocab_size, n_embd]; shares wte's storage when tied
};

struct GptShape {
  int64_t vocab_size, n_positions, n_embd, n_layer;
  int64_t inner;     // MLP hidden size
  int64_t qkv_rows;  // rows of the fused qkv projection
  bool tie_word_embeddings;
  bool hf_transposed;  // HF stores the linears as Conv1D [in, out] (GPT-2)
};

// The shape from a GPT-2-style config: fused qkv rows n_embd + 2 · kv_heads · head_dim;
// hf_transposed for HF's Conv1D storage (GPT-2), not for nn.Linear (GPTBigCode).
GptShape gpt_shape(const GptFields& c, int64_t kv_heads, bool hf_transposed);

// Every weight; lm_head is listed only when untied. hf_prefix goes before every HF name but
// lm_head.weight ("transformer." for the *LMHeadModel / *ForCausalLM files, else "").
std::vector<WeightEntry> gpt_weight_map(const GptShape& s, GptWeights& w,
                                        const std::string& hf_prefix);

}  // namespace kiln::models
