#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "linear";
  KILN_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
             "{}: x {} and weight {} do not chain (weight is [out, in])", op, x.shape_str(),
             w.shape_str());
  if (bias.defined()) require_shape(op, bias, {w.size(0)}, "bias");
  require_shape(op, out, {x.size(0), w.size(0)}, "out");
  require_contiguous(op, x, "x");
  require_contiguous(op, w, "weight");
  require_cpu_f32(op, x);
  require_cpu_f32(op, w);
  cpu::linear(out.data<float>(), x.data<float>(), w.data<float>(),
              bias.defined() ? bias.data<float>() : nullptr, x.size(0), w.size(0), x.size(1));
}

void add(const Tensor& a, const Tensor& b, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "add";
  require_shape(op, b, a.shape(), "b");
  require_shape(op, out, a.shape(), "out");
  require_cpu_f32(op, a);
  cpu::add(out.data<float>(), a.data<float>(), b.data<float>(), a.numel());
}

}  // namespace kiln::ops
