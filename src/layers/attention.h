// Causal self-attention over packed tokens with the paged KV cache: fused QKV projection, K/V
// written into this layer's pools, attention through the block tables, output projection.
// MHA/GQA/MQA by the head counts. Optional rotary (LLaMA) rotates q and k of the fused qkv rows
// between the projection and the KV write; without it (GPT-2) the path is unchanged. (Relative
// bias and cross-attention hook in here.)
#pragma once

#include <memory>

#include "core/workspace.h"
#include "layers/forward_batch.h"
#include "layers/linear.h"
#include "layers/rotary.h"

namespace kiln::layers {

struct SelfAttention {
  Linear qkv;  // [(heads + 2 * kv_heads) * head_dim, hidden]
  Linear out;  // [hidden, heads * head_dim]
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.f;  // applied to q·k before the softmax
  std::shared_ptr<const RotaryEmbedding> rotary;  // null: no rotary (shared by all layers)

  // x [n, hidden] -> y [n, hidden]. Writes K/V of the n tokens into k_pool/v_pool.
  void forward(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool, Tensor& v_pool,
               Tensor& y, Workspace& ws, ExecContext& ctx) const;
};

}  // namespace kiln::layers
