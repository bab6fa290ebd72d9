// Dense linear layer, HF layout: y = x · Wᵀ + b. (Weight-only, w8a8, fp8 and LoRA variants will sit
// beside it with the same forward signature.)
#pragma once

#include "core/exec_context.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace kiln::layers {

struct Linear {
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features] or undefined
  int64_t out_features() const { return weight.size(0); }
  void forward(const Tensor& x, Tensor& out, ExecContext& ctx) const {  // x [n, in] -> out [n, out]
    ops::linear(x, weight, bias, out, ctx);
  }
};

struct LayerNorm {
  Tensor weight;  // [d]
  Tensor bias;    // [d] or undefined
  float eps = 1e-5f;
  void forward(const Tensor& x, Tensor& out, ExecContext& ctx) const {  // [n, d]
    ops::layer_norm(x, weight, bias, eps, out, ctx);
  }
};

}  // namespace kiln::layers
