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

namespace kiln::ops {

void gated_activation(const Tensor& x, ActivationKind kind, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "gated_activation";
  KILN_CHECK(x.dim() == 2 && x.size(1) % 2 == 0, "{}: x must be [n, 2d], got {}", op,
             x.shape_str());
  require_shape(op, out, {x.size(0), x.size(1) / 2}, "out");
  require_contiguous(op, x, "x");
  require_contiguous(op, out, "out");
  require_same(op, x, out, "out");
  require_cuda_built(op, x);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::gated_activation<T>(out.data<T>(), x.data<T>(), x.size(0), x.size(1) / 2, kind,
                                stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  cpu::gated_activation(out.data<float>(), x.data<float>(), x.size(0), x.size(1) / 2, kind);
}

}  // namespace kiln::ops
