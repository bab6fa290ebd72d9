// linear and its fusions with the pre-LN block's neighbours (layer_norm_linear, linear_add): the
// fused forms check their parts' rules, then run one CUDA launcher that picks the fused GEMV for
// decode batches; the CPU (and every unfused case) composes the plain ops.
#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {
namespace {

// Whether two (defined) tensors' bytes overlap.
bool overlaps(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return false;
  const auto* pa = static_cast<const char*>(a.raw());
  const auto* pb = static_cast<const char*>(b.raw());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

// linear()'s rules (out's dtype is checked by the caller).
void check_linear(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias,
                  const Tensor& out, bool gelu) {
  KILN_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
             "{}: x {} and weight {} do not chain (weight is [out, in])", op, x.shape_str(),
             w.shape_str());
  if (bias.defined()) {
    require_shape(op, bias, {w.size(0)}, "bias");
    require_same(op, w, bias, "bias");
  }
  KILN_CHECK(!gelu || bias.defined(), "{}: the GELU epilogue needs a bias", op);
  require_shape(op, out, {x.size(0), w.size(0)}, "out");
  require_contiguous(op, x, "x");
  require_contiguous(op, w, "weight");
  require_contiguous(op, out, "out");
  require_same(op, x, w, "weight");
  KILN_CHECK(out.device() == x.device(), "{}: out on {}, x on {}", op, out.device().str(),
             x.device().str());
  require_cuda_built(op, x);
}

#ifdef KILN_WITH_CUDA
cuda::Epilogue epilogue_of(const Tensor& bias, bool gelu) {
  return gelu ? cuda::Epilogue::kBiasGelu
              : (bias.defined() ? cuda::Epilogue::kBias : cuda::Epilogue::kNone);
}
#endif

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out, ExecContext& ctx,
            bool gelu) {
  constexpr const char* op = "linear";
  check_linear(op, x, w, bias, out, gelu);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::Epilogue ep = epilogue_of(bias, gelu);
    KILN_CHECK(out.dtype() == x.dtype() || out.dtype() == DType::kFloat32,
               "{}: output dtype {} must be the input's ({}) or float32", op,
               dtype_name(out.dtype()), dtype_name(x.dtype()));
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const auto h = static_cast<cublasLtHandle_t>(ctx.blas_handle);
      const T* b = bias.defined() ? bias.data<T>() : nullptr;
      if (out.dtype() == x.dtype()) {
        cuda::linear<T, T>(out.data<T>(), x.data<T>(), w.data<T>(), b, x.size(0), w.size(0),
                           x.size(1), ep, h, ctx.workspace, ctx.workspace_bytes, stream_of(ctx));
      } else {
        cuda::linear<T, float>(out.data<float>(), x.data<T>(), w.data<T>(), b, x.size(0), w.size(0),
                               x.size(1), ep, h, ctx.workspace, ctx.workspace_bytes,
                               stream_of(ctx));
      }
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  require_cpu_f32(op, out);
  cpu::linear(out.data<float>(), x.data<float>(), w.data<float>(),
              bias.defined() ? bias.data<float>() : nullptr, x.size(0), w.size(0), x.size(1));
  if (gelu) cpu::activation(out.data<float>(), out.numel(), ActivationKind::kGeluTanh);
}

void layer_norm_linear(const Tensor& x, const Tensor& ln_w, const Tensor& ln_b, float eps,
                       Tensor& normed, const Tensor& w, const Tensor& bias, Tensor& out,
                       ExecContext& ctx, bool gelu) {
  constexpr const char* op = "layer_norm_linear";
  KILN_CHECK(x.dim() == 2, "{}: x must be [n, in], got {}", op, x.shape_str());
  require_shape(op, normed, x.shape(), "normed");
  require_same(op, x, normed, "normed");
  require_contiguous(op, normed, "normed");
  require_shape(op, ln_w, {x.size(1)}, "ln weight");
  require_same(op, x, ln_w, "ln weight");
  if (ln_b.defined()) {
    require_shape(op, ln_b, {x.size(1)}, "ln bias");
    require_same(op, x, ln_b, "ln bias");
  }
  require_same(op, x, out, "out");  // the fused form has no float32 output
  KILN_CHECK(!overlaps(normed, x) && !overlaps(normed, out) && !overlaps(x, out),
             "{}: x, normed and out must not overlap", op);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    check_linear(op, x, w, bias, out, gelu);
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::layer_norm_linear<T>(out.data<T>(), normed.data<T>(), x.data<T>(), ln_w.data<T>(),
                                 ln_b.defined() ? ln_b.data<T>() : nullptr, eps, w.data<T>(),
                                 bias.defined() ? bias.data<T>() : nullptr, x.size(0), w.size(0),
                                 x.size(1), epilogue_of(bias, gelu),
                                 static_cast<cublasLtHandle_t>(ctx.blas_handle), ctx.workspace,
                                 ctx.workspace_bytes, stream_of(ctx));
    });
    return;
  }
#endif
  layer_norm(x, ln_w, ln_b, eps, normed, ctx);
  linear(normed, w, bias, out, ctx, gelu);
}

void linear_add(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& residual, Tensor& tmp,
                ExecContext& ctx) {
  constexpr const char* op = "linear_add";
  KILN_CHECK(x.dim() == 2 && w.dim() == 2, "{}: x {} and weight {} must be 2-d", op, x.shape_str(),
             w.shape_str());
  require_shape(op, residual, {x.size(0), w.size(0)}, "residual");
  require_shape(op, tmp, {x.size(0), w.size(0)}, "tmp");
  require_same(op, x, residual, "residual");
  require_same(op, x, tmp, "tmp");
  require_contiguous(op, tmp, "tmp");
  KILN_CHECK(!overlaps(residual, x) && !overlaps(tmp, x) && !overlaps(tmp, residual),
             "{}: x, residual and tmp must not overlap", op);
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    check_linear(op, x, w, bias, residual, /*gelu=*/false);
    dispatch_cuda_float(op, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::linear_add<T>(residual.data<T>(), tmp.data<T>(), x.data<T>(), w.data<T>(),
                          bias.defined() ? bias.data<T>() : nullptr, x.size(0), w.size(0),
                          x.size(1), static_cast<cublasLtHandle_t>(ctx.blas_handle), ctx.workspace,
                          ctx.workspace_bytes, stream_of(ctx));
    });
    return;
  }
#endif
  linear(x, w, bias, tmp, ctx);
  add(residual, tmp, residual, ctx);
}

void add(const Tensor& a, const Tensor& b, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "add";
  require_shape(op, b, a.shape(), "b");
  require_shape(op, out, a.shape(), "out");
  require_same(op, a, b, "b");
  require_same(op, a, out, "out");
  require_cuda_built(op, a);
#ifdef KILN_WITH_CUDA
  if (a.device().is_cuda()) {
    dispatch_cuda_float(op, a.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::add<T>(out.data<T>(), a.data<T>(), b.data<T>(), a.numel(), stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, a);
  cpu::add(out.data<float>(), a.data<float>(), b.data<float>(), a.numel());
}

}  // namespace kiln::ops
