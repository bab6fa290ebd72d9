#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {
namespace {

void check_norm(const char* op, const Tensor& x, const Tensor& w, const Tensor& b,
                const Tensor& out) {
  KILN_CHECK(x.dim() == 2, "{}: x must be [rows, d], got {}", op, x.shape_str());
  const int64_t d = x.size(1);
  require_shape(op, w, {d}, "weight");
  if (b.defined()) require_shape(op, b, {d}, "bias");
  require_shape(op, out, x.shape(), "out");
  require_contiguous(op, x, "x");
  require_contiguous(op, out, "out");
  require_same(op, x, w, "weight");
  require_same(op, x, out, "out");
  if (b.defined()) require_same(op, x, b, "bias");
  require_cuda_built(op, x);
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out,
                ExecContext& ctx) {
  constexpr const char* op = "layer_norm";
  check_norm(op, x, w, b, out);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::layer_norm<T>(out.data<T>(), x.data<T>(), w.data<T>(),
                          b.defined() ? b.data<T>() : nullptr, x.size(0), x.size(1), eps,
                          stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  cpu::layer_norm(out.data<float>(), x.data<float>(), w.data<float>(),
                  b.defined() ? b.data<float>() : nullptr, x.size(0), x.size(1), eps);
}

void add_layer_norm(Tensor& residual, const Tensor& delta, const Tensor& w, const Tensor& b,
                    float eps, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "add_layer_norm";
  check_norm(op, residual, w, b, out);
  require_shape(op, delta, residual.shape(), "delta");
  require_same(op, residual, delta, "delta");
  require_contiguous(op, delta, "delta");
#ifdef KILN_WITH_CUDA
  if (residual.device().is_cuda()) {
    dispatch_cuda_float(op, residual.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::add_layer_norm<T>(residual.data<T>(), out.data<T>(), delta.data<T>(), w.data<T>(),
                              b.defined() ? b.data<T>() : nullptr, residual.size(0),
                              residual.size(1), eps, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, residual);
  cpu::add(residual.data<float>(), residual.data<float>(), delta.data<float>(), residual.numel());
  cpu::layer_norm(out.data<float>(), residual.data<float>(), w.data<float>(),
                  b.defined() ? b.data<float>() : nullptr, residual.size(0), residual.size(1), eps);
}

}  // namespace kiln::ops
