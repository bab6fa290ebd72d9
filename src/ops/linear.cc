#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out, ExecContext& ctx,
            bool gelu) {
  constexpr const char* op = "linear";
  require_chain(op, x, w);
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
#ifdef KILN_WITH_CUDA
  if (x.device().is_cuda()) {
    const cuda::Epilogue ep = gelu ? cuda::Epilogue::kBiasGelu
                                   : (bias.defined() ? cuda::Epilogue::kBias : cuda::Epilogue::kNone);
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
        cuda::linear<T, float>(out.data<float>(), x.data<T>(), w.data<T>(), b, x.size(0),
                               w.size(0), x.size(1), ep, h, ctx.workspace, ctx.workspace_bytes,
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
