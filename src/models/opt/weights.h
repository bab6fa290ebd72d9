// OPT weights and the one name map between kiln's names, Hugging Face's names and the struct.
// HF keeps q_proj/k_proj/v_proj apart; kiln fuses them into one [3 * hidden, hidden] qkv (DESIGN
// §4), so a HF folder is read through the split map and fused once (fuse_qkv). All linears are
// nn.Linear ([out, in]): nothing is transposed. The position table keeps HF's two leading rows
// (OPTLearnedPositionalEmbedding's offset 2): [max_position_embeddings + 2, hidden].
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/opt/config.h"
#include "models/weight_map.h"

namespace kiln::models::opt {

using models::WeightEntry;

struct OptLayerWeights {
  Tensor attn_ln_w, attn_ln_b;  // [hidden] self_attn_layer_norm (absent without affine)
  Tensor qkv_w;                 // [3 * hidden, hidden]: q | k | v
  Tensor qkv_b;                 // [3 * hidden] (absent without enable_bias)
  Tensor q_w, k_w, v_w;         // [hidden, hidden] HF loading only, fused into qkv_w
  Tensor q_b, k_b, v_b;         // [hidden] HF loading only
  Tensor out_w;                 // [hidden, hidden]
  Tensor out_b;                 // [hidden]
  Tensor ffn_ln_w, ffn_ln_b;    // [hidden] final_layer_norm of the layer
  Tensor fc1_w;                 // [ffn_dim, hidden]
  Tensor fc1_b;                 // [ffn_dim]
  Tensor fc2_w;                 // [hidden, ffn_dim]
  Tensor fc2_b;                 // [hidden]
};

struct OptWeights {
  Tensor embed_tokens;        // [vocab_size, embed_dim]
  Tensor embed_positions;     // [max_position_embeddings + 2, hidden]
  Tensor project_in;          // [hidden, embed_dim] (only when embed_dim != hidden)
  Tensor project_out;         // [embed_dim, hidden] (only when embed_dim != hidden)
  std::vector<OptLayerWeights> layers;
  Tensor final_ln_w, final_ln_b;  // [hidden] (only with has_final_layer_norm() and affine)
  Tensor lm_head;             // [vocab_size, embed_dim]; shares embed_tokens' storage when tied
};

// Every weight of the model; lm_head is listed only when untied. split_qkv lists HF's separate
// q/k/v projections instead of the fused qkv (HF folders). hf_prefix is "model.decoder." for
// OPTForCausalLM files and "decoder." for OPTModel ones (lm_head.weight is never prefixed).
std::vector<WeightEntry> weight_map(const OptConfig& c, OptWeights& w, const std::string& hf_prefix,
                                    bool split_qkv);

// Concatenates the split q/k/v of every layer into qkv (and releases them).
void fuse_qkv(const OptConfig& c, OptWeights& w);

}  // namespace kiln::models::opt
