// The block of GPT-2 and its kin (GPTBigCode, OPT): LayerNorm, causal self-attention, LayerNorm,
// two-layer MLP. pre_ln_forward runs a stack of them pre-LN (GPT-2's order); OPT's post-LN models
// order the same parts differently in their own forward.
#pragma once

#include <vector>

#include "core/workspace.h"
#include "layers/attention.h"
#include "layers/forward_batch.h"
#include "layers/linear.h"
#include "layers/mlp.h"
#include "models/common/gpt_weights.h"
#include "ops/activation_kind.h"

namespace kiln::models {

struct GptBlock {
  layers::LayerNorm ln_1;  // before the attention (OPT: self_attn_layer_norm)
  layers::SelfAttention attn;
  layers::LayerNorm ln_2;  // before the MLP (OPT: the layer's final_layer_norm)
  layers::Mlp mlp;
  // LayerNorms folded into qkv / fc1 (models/common/ln_fold.h; ln_1 and ln_2 then hold the
  // identity affine): fp32 [out] row sums of those weights; undefined when not folded.
  Tensor qkv_rowsum, fc_rowsum;
};

// The norms, projections and MLP of a block from GPT-2-named weights (eps for both LayerNorms);
// the family sets the attention's head counts, head_dim and scale.
GptBlock gpt_block(const GptLayerWeights& w, float eps, ops::ActivationKind act);

// Per block: h += attn(ln_1(h)); h += mlp(ln_2(h)). Each output projection, its residual add and
// the LayerNorm that follows are one op (ops::linear_add_layer_norm: one GEMV at decode sizes;
// the next block's ln_1 after the MLP); the last block ends with a plain add, so h leaves
// un-normalised (the final norm runs on the logit rows only).
// h, normed, tmp: [n, hidden] (residual stream, normed input, sublayer output). The sublayers'
// scratch is taken from ws after ws.used() at entry and rewound there. Block i uses kv.k[i]/v[i].
// Folded blocks (qkv_rowsum defined) run h += out(attn(qkv(ln_1(h)))) with the LayerNorm inside
// the qkv / fc1 op (ops::layer_norm_linear) and plain residual adds (ops::linear_add).
void pre_ln_forward(const std::vector<GptBlock>& blocks, Tensor& h, Tensor& normed, Tensor& tmp,
                    const layers::ForwardBatch& batch, layers::KvCacheView& kv, Workspace& ws,
                    ExecContext& ctx);

// The whole GPT-2-architecture forward (GPT-2, GPTBigCode): token + learned position embeddings,
// the pre-LN stack, then the final LayerNorm and the LM head on the logit rows only (LayerNorm is
// per row). family names the model in errors. Returns fp32 logits [logit rows, vocab].
Tensor gpt_forward(const char* family, const GptWeights& w, const std::vector<GptBlock>& blocks,
                   const layers::LayerNorm& ln_f, DType dtype, const layers::ForwardBatch& batch,
                   layers::KvCacheView& kv, Workspace& ws, ExecContext& ctx);

}  // namespace kiln::models
