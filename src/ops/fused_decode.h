// fused_gpt_decode: the layer stack of a GPT-2-architecture decode step as one persistent CUDA
// kernel (ops/cuda/fused_decode.h: weights stream through a shared-memory ring while grid
// barriers order the sublayers). An optional fast path: it returns false, having run nothing,
// wherever it does not apply (CPU, fp32, more than 8 tokens, a prefill row, GQA, unfolded
// LayerNorms, a device below sm_90, unless KILN_FUSED_DECODE=1, ...), and the caller runs the ops.
#pragma once

#include <vector>

#include "core/exec_context.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace kiln::ops {

// One pre-LN block with LayerNorms folded into qkv and fc1 (models/common/ln_fold.h): biases
// may be undefined; row sums fp32.
struct FusedGptBlock {
  const Tensor* qkv_w;  // [3E, E]
  const Tensor* qkv_b;  // [3E]
  const Tensor* qkv_rowsum;
  const Tensor* out_w;  // [E, E]
  const Tensor* out_b;
  const Tensor* fc_w;  // [I, E]
  const Tensor* fc_b;
  const Tensor* fc_rowsum;
  const Tensor* proj_w;  // [E, I]
  const Tensor* proj_b;
  Tensor* k_pool;  // [blocks, heads, block_size, head_dim]
  Tensor* v_pool;
  float scale;  // attention score scale
  float eps;    // of both folded LayerNorms
};

// KILN_FUSED_DECODE=1 in the environment (read at each call): callers skip preparing the blocks.
bool fused_gpt_decode_requested();

// h [n, E] (residual stream, updated in place); scratch [n, max(3E, I)] and attn [n, E] are
// overwritten. meta / slots: a decode batch (one query row per sequence). GELU-tanh MLP, MHA.
bool fused_gpt_decode(const std::vector<FusedGptBlock>& blocks, int heads, Tensor& h,
                      Tensor& scratch, Tensor& attn, const Tensor& slots, const AttentionMeta& meta,
                      ExecContext& ctx);

}  // namespace kiln::ops
