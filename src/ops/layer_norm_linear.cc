// layer_norm_linear and linear_add: the decode-step pair that LayerNorm folding
// (models/common/ln_fold.h) uses in place of linear_add_layer_norm — one GEMV each at CUDA decode
// sizes (cuda::gemv_layer_norm_folded / cuda::gemv_add), else the unfused ops.
#include "ops/dispatch.h"
#include "ops/ops.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/gemv.h"
#endif

namespace kiln::ops {

#ifdef KILN_WITH_CUDA
static_assert(kFoldedGemvMaxRows == cuda::kGemvMaxRows, "ops.h's cap is the GEMV's");
#endif

void layer_norm_linear(const Tensor& x, const Tensor& ln_w, const Tensor& ln_b, float eps,
                       const Tensor& w, const Tensor& bias, const Tensor& rowsum, bool gelu,
                       Tensor& normed, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "layer_norm_linear";
  require_chain(op, x, w);
  const int64_t n = x.size(0), m = w.size(0), k = x.size(1);
  require_shape(op, out, {n, m}, "out");
  require_shape(op, normed, {n, k}, "normed");
#ifdef KILN_WITH_CUDA
  if (rowsum.defined() && x.device().is_cuda() && x.is_contiguous() && w.is_contiguous() &&
      out.is_contiguous() && out.dtype() == x.dtype() && w.dtype() == x.dtype() &&
      rowsum.dtype() == DType::kFloat32 && rowsum.numel() == m &&
      (!bias.defined() || (bias.dtype() == x.dtype() && bias.numel() == m))) {
    bool done = false;
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      done = cuda::gemv_layer_norm_folded<T>(
          out.data<T>(), x.data<T>(), w.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
          rowsum.data<float>(), eps, n, m, k, gelu, stream_of(ctx));
    });
    if (done) return;
  }
#endif
  layer_norm(x, ln_w, ln_b, eps, normed, ctx);
  linear(normed, w, bias, out, ctx, gelu);
}

void linear_add(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& residual, Tensor& tmp,
                ExecContext& ctx) {
  constexpr const char* op = "linear_add";
  require_chain(op, x, w);
  const int64_t n = x.size(0), m = w.size(0);
  require_shape(op, residual, {n, m}, "residual");
  require_shape(op, tmp, {n, m}, "tmp");
  require_contiguous(op, residual, "residual");
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda() && x.is_contiguous() && w.is_contiguous() &&
      residual.dtype() == x.dtype() &&
      (!bias.defined() || (bias.dtype() == x.dtype() && bias.numel() == m))) {
    bool done = false;
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      done = cuda::gemv_add<T>(residual.data<T>(), x.data<T>(), w.data<T>(),
                               bias.defined() ? bias.data<T>() : nullptr, n, m, x.size(1),
                               stream_of(ctx));
    });
    if (done) return;
  }
#endif
  linear(x, w, bias, tmp, ctx);
  add(residual, tmp, residual, ctx);
}

}  // namespace kiln::ops
