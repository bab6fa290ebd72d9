#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void activation(Tensor& x, ActivationKind kind, ExecContext& ctx) {
  constexpr const char* op = "activation";
  require_contiguous(op, x, "x");
  require_cuda_built(op, x);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::activation<T>(x.data<T>(), x.numel(), kind, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  cpu::activation(x.data<float>(), x.numel(), kind);
}

}  // namespace kiln::ops
