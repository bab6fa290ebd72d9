// linear_add_layer_norm: an output projection, its residual add and the LayerNorm after it — one
// GEMV launch at CUDA decode sizes (cuda::gemv_add_layer_norm), else linear + add_layer_norm.
#include "ops/dispatch.h"
#include "ops/ops.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/gemv.h"
#endif

namespace kiln::ops {

void linear_add_layer_norm(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& residual,
                           const Tensor& ln_w, const Tensor& ln_b, float eps, Tensor& normed,
                           Tensor& tmp, ExecContext& ctx) {
  constexpr const char* op = "linear_add_layer_norm";
  require_chain(op, x, w);
  const int64_t n = x.size(0), m = w.size(0);
  require_shape(op, residual, {n, m}, "residual");
  require_shape(op, normed, {n, m}, "normed");
  require_shape(op, tmp, {n, m}, "tmp");
  require_shape(op, ln_w, {m}, "ln_w");
  if (ln_b.defined()) require_shape(op, ln_b, {m}, "ln_b");
  for (const Tensor* t : {&residual, &normed, &tmp}) require_contiguous(op, *t, "output");
  auto overlap = [](const Tensor& a, const Tensor& b) {
    const char* a0 = static_cast<const char*>(a.raw());
    const char* b0 = static_cast<const char*>(b.raw());
    return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
  };
  KILN_CHECK(!overlap(x, residual) && !overlap(x, normed) && !overlap(residual, normed),
             "{}: x, residual and normed must not overlap", op);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda() && ctx.counters && x.is_contiguous() && w.is_contiguous() &&
      residual.dtype() == x.dtype() && normed.dtype() == x.dtype() && ln_w.dtype() == x.dtype() &&
      (!bias.defined() || (bias.dtype() == x.dtype() && bias.numel() == m))) {
    bool done = false;
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      done = cuda::gemv_add_layer_norm<T>(residual.data<T>(), normed.data<T>(), x.data<T>(),
                                          w.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                          ln_w.data<T>(), ln_b.defined() ? ln_b.data<T>() : nullptr,
                                          eps, n, m, x.size(1), ctx.counters, stream_of(ctx));
    });
    if (done) return;
  }
#endif
  linear(x, w, bias, tmp, ctx);
  add_layer_norm(residual, tmp, ln_w, ln_b, eps, normed, ctx);
}

}  // namespace kiln::ops
