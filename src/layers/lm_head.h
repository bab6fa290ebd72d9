// LM head over the logit rows only. Final norms are per row, so a model gathers the rows whose
// logits are wanted (batch.logit_rows: a sequence's last token) before its final norm, and the head
// writes fp32 logits whatever the compute dtype (the LM-head GEMM produces them in fp32).
#pragma once

#include "core/workspace.h"
#include "layers/forward_batch.h"
#include "ops/ops.h"

namespace kiln::layers {

// h [n, hidden] -> rows [m, hidden] at batch.logit_rows, taken from ws.
inline Tensor gather_logit_rows(const Tensor& h, const ForwardBatch& batch, Workspace& ws,
                                ExecContext& ctx) {
  Tensor rows = ws.take({batch.logit_rows.size(0), h.size(1)}, h.dtype());
  ops::gather_rows(h, batch.logit_rows, rows, ctx);
  return rows;
}

// x [m, hidden] · lm_head [vocab, hidden]ᵀ -> fp32 logits [m, vocab], taken from ws.
inline Tensor lm_head_logits(const Tensor& x, const Tensor& lm_head, Workspace& ws,
                             ExecContext& ctx) {
  Tensor logits = ws.take({x.size(0), lm_head.size(0)}, DType::kFloat32);
  ops::linear(x, lm_head, Tensor(), logits, ctx);
  return logits;
}

}  // namespace kiln::layers
