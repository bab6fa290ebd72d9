// Gated feed-forward (SwiGLU and kin, LLaMA's MLP): y = down(act(gate(x)) * up(x)), with gate and
// up fused into one [gate; up] projection so one GEMM produces both halves.
#pragma once

#include "core/workspace.h"
#include "layers/linear.h"
#include "ops/activation_kind.h"

namespace kiln::layers {

struct GatedMlp {
  Linear gate_up;  // [2 * inter, hidden]: rows [0, inter) gate, [inter, 2 * inter) up
  Linear down;     // [hidden, inter]
  ops::ActivationKind act = ops::ActivationKind::kSilu;

  void forward(const Tensor& x, Tensor& y, Workspace& ws, ExecContext& ctx) const {  // [n, hidden]
    const int64_t n = x.size(0), inter = gate_up.out_features() / 2;
    Tensor gu = ws.take({n, 2 * inter}, x.dtype());  // [n, gate | up]
    gate_up.forward(x, gu, ctx);
    Tensor h = ws.take({n, inter}, x.dtype());  // [n, inter]
    ops::gated_activation(gu, act, h, ctx);
    down.forward(h, y, ctx);
  }
};

}  // namespace kiln::layers
