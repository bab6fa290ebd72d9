#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {
namespace {

void check_rms(const char* op, const Tensor& x, const Tensor& w, const Tensor& out) {
  KILN_CHECK(x.dim() == 2, "{}: x must be [rows, d], got {}", op, x.shape_str());
  require_shape(op, w, {x.size(1)}, "weight");
  require_shape(op, out, x.shape(), "out");
  require_contiguous(op, x, "x");
  require_contiguous(op, out, "out");
  require_same(op, x, w, "weight");
  require_same(op, x, out, "out");
  require_cuda_built(op, x);
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "rms_norm";
  check_rms(op, x, w, out);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::rms_norm<T>(out.data<T>(), nullptr, x.data<T>(), w.data<T>(), x.size(0), x.size(1),
                        eps, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  cpu::rms_norm(out.data<float>(), x.data<float>(), w.data<float>(), x.size(0), x.size(1), eps);
}

void add_rms_norm(Tensor& residual, const Tensor& delta, const Tensor& w, float eps, Tensor& out,
                  ExecContext& ctx) {
  constexpr const char* op = "add_rms_norm";
  check_rms(op, residual, w, out);
  require_shape(op, delta, residual.shape(), "delta");
  require_same(op, residual, delta, "delta");
  require_contiguous(op, delta, "delta");
#ifdef KILN_WITH_CUDA
  if (residual.device().is_cuda()) {
    dispatch_cuda_float(op, residual.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::rms_norm<T>(out.data<T>(), residual.data<T>(), delta.data<T>(), w.data<T>(),
                        residual.size(0), residual.size(1), eps, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, residual);
  cpu::add_rms_norm(residual.data<float>(), out.data<float>(), delta.data<float>(),
                    w.data<float>(), residual.size(0), residual.size(1), eps);
}

}  // namespace kiln::ops
