#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out,
                ExecContext& ctx) {
  constexpr const char* op = "layer_norm";
  KILN_CHECK(x.dim() == 2, "{}: x must be [rows, d], got {}", op, x.shape_str());
  const int64_t d = x.size(1);
  require_shape(op, w, {d}, "weight");
  if (b.defined()) require_shape(op, b, {d}, "bias");
  require_shape(op, out, x.shape(), "out");
  require_contiguous(op, x, "x");
  require_cpu_f32(op, x);
  cpu::layer_norm(out.data<float>(), x.data<float>(), w.data<float>(),
                  b.defined() ? b.data<float>() : nullptr, x.size(0), d, eps);
}

}  // namespace kiln::ops
