// Op declarations: free functions over tensors. Each checks shapes once and dispatches once on
// (device, dtype) to a kernel that takes raw pointers (cpu:: here; cuda:: twins in ops/cuda).
#pragma once

#include "core/exec_context.h"
#include "core/tensor.h"
#include "ops/activation_kind.h"

namespace kiln::ops {

// out[i, :] (+)= table[ids[i], :].  ids [n] int32, table [vocab, hidden], out [n, hidden].
// Ids outside [0, vocab) throw.
void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate,
               ExecContext& ctx);

// out = LayerNorm(x) * w + b, statistics in fp32.  x/out [n, d], w/b [d] (b may be undefined).
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out,
                ExecContext& ctx);

// out = x · wᵀ (+ bias).  x [n, in], w [out_features, in] (HF layout), bias [out_features], out [n, out].
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out, ExecContext& ctx);

// In place: x = act(x).  x [n, d].
void activation(Tensor& x, ActivationKind kind, ExecContext& ctx);

// out = a + b (same shape; out may alias a or b).
void add(const Tensor& a, const Tensor& b, Tensor& out, ExecContext& ctx);

// out[i, :] = x[rows[i], :].  x [n, d], rows [m] int32, out [m, d].
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out, ExecContext& ctx);

// Writes this step's K/V into the paged pools.  k/v [n, kv_heads * head_dim] (rows may be strided,
// e.g. column slices of a fused QKV output);
// pools [num_blocks, kv_heads, block_size, head_dim]; slots [n] int32 = block * block_size + offset.
void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_pool, Tensor& v_pool,
                    const Tensor& slots, ExecContext& ctx);

// Attention of packed query tokens over the paged cache. Token t of sequence s = token_seq[t]
// sees keys at positions [0, kv_len[t]) of that sequence (causal: kv_len = position + 1).
// q [n, heads * head_dim] (rows may be strided), out [n, heads * head_dim] dense; pools [num_blocks, kv_heads, block_size, head_dim];
// block_tables [num_seqs, max_blocks] int32; token_seq/kv_len [n] int32.
// heads % kv_heads == 0 (MHA/GQA/MQA). scores = (q·k) * scale, softmax in fp32.
void paged_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                     const Tensor& block_tables, const Tensor& token_seq, const Tensor& kv_len,
                     float scale, Tensor& out, ExecContext& ctx);

}  // namespace kiln::ops
