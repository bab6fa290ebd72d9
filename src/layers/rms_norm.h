// RMSNorm (LLaMA, T5): y = x / sqrt(mean(x²) + eps) * w, statistics in fp32.
#pragma once

#include "core/exec_context.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace kiln::layers {

struct RmsNorm {
  Tensor weight;  // [d]
  float eps = 1e-6f;
  void forward(const Tensor& x, Tensor& out, ExecContext& ctx) const {  // [n, d]
    ops::rms_norm(x, weight, eps, out, ctx);
  }
  // residual += delta; out = norm(residual).  [n, d] each.
  void add_forward(Tensor& residual, const Tensor& delta, Tensor& out, ExecContext& ctx) const {
    ops::add_rms_norm(residual, delta, weight, eps, out, ctx);
  }
};

}  // namespace kiln::layers
