// LLaMA weights and the one name map between kiln's names, Hugging Face's names and the struct.
// kiln fuses q/k/v into one [q; k; v] projection and gate/up into one [gate; up] projection: a
// kiln checkpoint stores the fused tensors; loading a HF folder concatenates HF's separate
// q_proj/k_proj/v_proj (and gate_proj/up_proj) rows, as each fused entry lists its HF parts.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "models/llama/config.h"
#include "models/weight_map.h"

namespace kiln::models::llama {

using models::WeightEntry;

struct LlamaLayerWeights {
  Tensor input_norm;     // [hidden]
  Tensor qkv_w;          // [(heads + 2 * kv_heads) * head_dim, hidden]
  Tensor qkv_b;          // [(heads + 2 * kv_heads) * head_dim] (attention_bias)
  Tensor o_w;            // [hidden, heads * head_dim]
  Tensor o_b;            // [hidden] (attention_bias)
  Tensor post_norm;      // [hidden]
  Tensor gate_up_w;      // [2 * inter, hidden]
  Tensor gate_up_b;      // [2 * inter] (mlp_bias)
  Tensor down_w;         // [hidden, inter]
  Tensor down_b;         // [hidden] (mlp_bias)
};

struct LlamaWeights {
  Tensor embed;          // [vocab, hidden]
  std::vector<LlamaLayerWeights> layers;
  Tensor norm;           // [hidden]
  Tensor lm_head;        // [vocab, hidden]; shares embed's storage when tied
};

// One kiln weight and the HF tensors (rows concatenated in order) it is made of.
struct FusedEntry {
  WeightEntry entry;                 // kiln name, destination, fused shape
  std::vector<std::string> hf_parts;  // full HF names
  std::vector<int64_t> part_rows;     // rows each part contributes
};

// Every weight; lm_head only when untied; biases only when the config has them. hf_prefix is
// "model." for LlamaForCausalLM files and "" for bare LlamaModel ones (lm_head is never prefixed).
std::vector<FusedEntry> fused_map(const LlamaConfig& c, LlamaWeights& w, const std::string& hf_prefix);
// The kiln view of fused_map (kiln checkpoint load/save, device moves).
std::vector<WeightEntry> weight_map(const LlamaConfig& c, LlamaWeights& w);
// Loads a HF folder's tensors, fusing the parts.
void load_hf_weights(const io::Checkpoint& ckpt, const LlamaConfig& c, LlamaWeights& w,
                     const std::string& hf_prefix);

}  // namespace kiln::models::llama
