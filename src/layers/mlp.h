// Two-layer feed-forward: y = fc2(act(fc1(x))). (Gated variants — SwiGLU, gated-GELU — join here.)
#pragma once

#include "core/workspace.h"
#include "layers/linear.h"
#include "ops/activation_kind.h"

namespace kiln::layers {

struct Mlp {
  Linear fc1;  // [inner, hidden]
  Linear fc2;  // [hidden, inner]
  ops::ActivationKind act = ops::ActivationKind::kGeluTanh;

  void forward(const Tensor& x, Tensor& y, Workspace& ws, ExecContext& ctx) const {  // [n, hidden]
    fc2.forward(hidden(x, ws, ctx), y, ctx);
  }
  // act(fc1(x)) [n, inner] (from ws), for a caller that fuses fc2 with what follows it.
  Tensor hidden(const Tensor& x, Workspace& ws, ExecContext& ctx) const {
    Tensor h = ws.take({x.size(0), fc1.out_features()}, x.dtype());  // [n, inner]
    if (act == ops::ActivationKind::kGeluTanh && fc1.bias.defined()) {
      ops::linear(x, fc1.weight, fc1.bias, h, ctx, /*gelu=*/true);  // fused GEMM epilogue
    } else {
      fc1.forward(x, h, ctx);
      ops::activation(h, act, ctx);
    }
    return h;
  }
};

}  // namespace kiln::layers
