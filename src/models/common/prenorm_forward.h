// The forward pass LLaMA-style decoders share (LLaMA, GPT-Next): token embeddings, pre-norm blocks
// of self-attention (rotary inside the layer) and a gated MLP, each sublayer's output added to the
// residual stream by the next norm (add_forward), a final norm over the rows whose logits are
// wanted only, and the LM head in fp32.
//
// Block provides input_norm / post_norm (forward(x, out, ctx), add_forward(h, delta, out, ctx)),
// attn (layers::SelfAttention) and mlp (layers::GatedMlp); FinalNorm provides forward.
#pragma once

#include <vector>

#include "layers/lm_head.h"
#include "models/common/forward_buffers.h"
#include "ops/ops.h"

namespace kiln::models {

template <class Block, class FinalNorm>
Tensor prenorm_forward(const char* family, const Tensor& embed, const Tensor& lm_head,
                       const std::vector<Block>& blocks, const FinalNorm& final_norm, DType dt,
                       const layers::ForwardBatch& batch, layers::KvCacheView& kv, Workspace& ws,
                       ExecContext& ctx) {
  auto [h, normed, tmp] = begin_forward(family, batch, kv, blocks.size(), embed.size(1), dt, ws);
  ops::embedding(batch.input_ids, embed, h, /*accumulate=*/false, ctx);

  const size_t mark = ws.used();
  blocks[0].input_norm.forward(h, normed, ctx);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    b.attn.forward(normed, batch, kv.k[i], kv.v[i], tmp, ws, ctx);
    ws.rewind(mark);
    b.post_norm.add_forward(h, tmp, normed, ctx);
    b.mlp.forward(normed, tmp, ws, ctx);
    ws.rewind(mark);
    if (i + 1 < blocks.size())
      blocks[i + 1].input_norm.add_forward(h, tmp, normed, ctx);
    else
      ops::add(h, tmp, h, ctx);
  }
  // The norm is per row: only the rows whose logits are wanted go through it and the head.
  Tensor last = layers::gather_logit_rows(h, batch, ws, ctx);  // [m, d]
  Tensor last_normed = ws.take(last.shape(), dt);              // [m, d]
  final_norm.forward(last, last_normed, ctx);
  return layers::lm_head_logits(last_normed, lm_head, ws, ctx);  // [m, vocab] fp32
}

}  // namespace kiln::models
