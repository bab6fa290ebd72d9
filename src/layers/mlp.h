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
    Tensor h = ws.take({x.size(0), fc1.out_features()}, x.dtype());                  // [n, inner]
    if (fused_gelu()) {
      ops::linear(x, fc1.weight, fc1.bias, h, ctx, /*gelu=*/true);  // fused GEMM epilogue
    } else {
      fc1.forward(x, h, ctx);
      ops::activation(h, act, ctx);
    }
    fc2.forward(h, y, ctx);
  }

  // Pre-LN sublayer on the residual stream h [n, hidden]: h += fc2(act(fc1(norm(h)))), the norm
  // fused into fc1 (ops::layer_norm_linear) and the residual add into fc2 (ops::linear_add).
  // normed, tmp [n, hidden]: scratch of the unfused paths.
  void forward_pre_ln(const LayerNorm& norm, Tensor& h, Tensor& normed, Tensor& tmp, Workspace& ws,
                      ExecContext& ctx) const {
    Tensor hidden = ws.take({h.size(0), fc1.out_features()}, h.dtype());  // [n, inner]
    ops::layer_norm_linear(h, norm.weight, norm.bias, norm.eps, normed, fc1.weight, fc1.bias,
                           hidden, ctx, fused_gelu());
    if (!fused_gelu()) ops::activation(hidden, act, ctx);
    ops::linear_add(hidden, fc2.weight, fc2.bias, h, tmp, ctx);
  }

 private:
  // GELU(tanh) after a biased fc1 runs in the GEMM epilogue.
  bool fused_gelu() const { return act == ops::ActivationKind::kGeluTanh && fc1.bias.defined(); }
};

}  // namespace kiln::layers
