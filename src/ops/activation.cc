#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void activation(Tensor& x, ActivationKind kind, ExecContext& ctx) {
  constexpr const char* op = "activation";
  require_contiguous(op, x, "x");
  require_cpu_f32(op, x);
  cpu::activation(x.data<float>(), x.numel(), kind);
}

}  // namespace kiln::ops
