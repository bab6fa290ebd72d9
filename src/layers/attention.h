// Self-attention over packed tokens with the paged KV cache: fused QKV projection, K/V written
// into this layer's pools, attention through the block tables, output projection. MHA/GQA/MQA by
// the head counts. Optional rotary (LLaMA) rotates q and k of the fused qkv rows between the
// projection and the KV write; optional relative position bias (T5) is added to the scores from
// a table by distance. The causal flag lives in the step's AttentionMeta: an encoder runs the same
// layer bidirectionally over a scratch pool (forward_encoder).
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
  float scale = 1.f;                              // applied to q·k before the softmax
  std::shared_ptr<const RotaryEmbedding> rotary;  // null: no rotary (shared by all layers)
  Tensor position_bias;  // [heads, 2R + 1] fp32 on the model's device, or undefined (no bias)

  // x [n, hidden] -> y [n, hidden]. Writes K/V of the n tokens into k_pool/v_pool.
  void forward(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool, Tensor& v_pool,
               Tensor& y, Workspace& ws, ExecContext& ctx) const;
  // forward without the output projection: the attention [n, heads * head_dim] (from ws), for a
  // caller that fuses `out` with what follows it.
  Tensor forward_heads(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool, Tensor& v_pool,
                       Workspace& ws, ExecContext& ctx) const;
  // forward_heads from a qkv projection the caller computed: qkv_out [n, q | k | v] (rotary
  // applied here, in place).
  Tensor attend_qkv(Tensor& qkv_out, const ForwardBatch& batch, Tensor& k_pool, Tensor& v_pool,
                    Workspace& ws, ExecContext& ctx) const;
  // Encoder self-attention (no rotary): K/V go to the scratch pools through batch.scratch_slots;
  // attention follows batch.attn (bidirectional). x [n, hidden] -> y [n, hidden].
  void forward_encoder(const Tensor& x, const EncoderBatch& batch, Tensor& k_scratch,
                       Tensor& v_scratch, Tensor& y, Workspace& ws, ExecContext& ctx) const;

 private:
  // Stores the step's K/V and attends; returns the attention [n, heads * head_dim] (from ws).
  Tensor attend(const Tensor& qkv_out, const Tensor& slots, const ops::AttentionMeta& meta,
                Tensor& k_pool, Tensor& v_pool, Workspace& ws, ExecContext& ctx) const;
};

// Encoder–decoder cross-attention: the decoder's queries attend over the encoder output's K/V,
// which write_kv stores once per request in the sequence's cross blocks (same pools as the
// layer's self-attention K/V, so kv heads == heads). No bias, no rotary, not causal.
struct CrossAttention {
  Linear q;    // [heads * head_dim, hidden]
  Linear kv;   // [2 * heads * head_dim, encoder_hidden]: the k rows, then the v rows
  Linear out;  // [hidden, heads * head_dim]
  int num_heads = 0;
  int head_dim = 0;
  float scale = 1.f;

  // enc [n_enc, encoder_hidden] -> K/V written at cross_slots [n_enc] of k_pool/v_pool.
  void write_kv(const Tensor& enc, const Tensor& cross_slots, Tensor& k_pool, Tensor& v_pool,
                Workspace& ws, ExecContext& ctx) const;
  // x [n, hidden] -> y [n, hidden], attending through batch.cross.
  void forward(const Tensor& x, const ForwardBatch& batch, const Tensor& k_pool,
               const Tensor& v_pool, Tensor& y, Workspace& ws, ExecContext& ctx) const;
};

}  // namespace kiln::layers
