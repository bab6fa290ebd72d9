// gemv launchers (plain, LayerNorm prologue, residual-add epilogue): applicability checks and the
// CTA-size choice for kernels/gemv.cuh.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/gemv.h"

#include <climits>
#include <type_traits>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/gemv.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

int sm_count() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 132;
  return sms;
}

// Warps per CTA (k split). One CTA per 16 rows, so small m gives few CTAs: then a long k is
// spread over 16 warps (512 threads) for more loads in flight per SM; otherwise 8 warps, fewer
// when k has fewer 64-element steps than that.
int warps_for(int64_t m, int64_t k) {
  const int64_t tiles = detail::ceil_div(m, detail::kGemvRows);
  const int64_t steps = detail::ceil_div(k, detail::kGemvStep);
  if (steps >= 64 && tiles < 2 * static_cast<int64_t>(sm_count())) return 16;
  if (steps >= 8) return 8;
  if (steps >= 4) return 4;
  if (steps >= 2) return 2;
  return 1;
}

// Whether the kernel applies to these shapes and pointers (see gemv.h).
bool applies(const void* x, const void* w, int64_t n, int64_t m, int64_t k) {
  if (n < 1 || n > detail::kGemvMaxN || m < 1 || m > INT_MAX - detail::kGemvRows) return false;
  if (k < 8 || k % 8 != 0 || k > INT_MAX - 2 * detail::kGemvStep) return false;
  return detail::is_aligned(x, 16) && detail::is_aligned(w, 16);
}

template <detail::GemvMode kMode, class T, class OutT>
void run(detail::GemvParams<T, OutT> p, int64_t m, int64_t k, cudaStream_t stream) {
  if (!p.bias) p.epilogue = static_cast<int>(Epilogue::kNone);
  const int warps = warps_for(m, k);
  const int64_t grid = detail::ceil_div(m, detail::kGemvRows);
  KILN_CUDA_CHECK(launch(detail::gemv_kernel<T, OutT, kMode>, dim3(static_cast<unsigned>(grid)),
                         dim3(warps * 32), 0, stream, p),
                  "gemv");
}

template <class T, class OutT>
detail::GemvParams<T, OutT> params(OutT* out, const T* x, const T* w, const T* bias, int64_t n,
                                   int64_t m, int64_t k, Epilogue epilogue) {
  detail::GemvParams<T, OutT> p{};
  p.out = out, p.x = x, p.w = w, p.bias = bias;
  p.n = static_cast<int>(n), p.m = static_cast<int>(m), p.k = static_cast<int>(k);
  p.epilogue = static_cast<int>(epilogue);
  return p;
}

template <class T>
constexpr bool kTensorCore = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

}  // namespace

template <class T, class OutT>
bool gemv(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
          Epilogue epilogue, cudaStream_t stream) {
  if constexpr (!kTensorCore<T>) {
    return false;
  } else {
    static_assert(std::is_same_v<OutT, T> || std::is_same_v<OutT, float>);
    if (!applies(x, w, n, m, k)) return false;
    run<detail::GemvMode::kPlain>(params(out, x, w, bias, n, m, k, epilogue), m, k, stream);
    return true;
  }
}

template <class T>
bool gemv_layer_norm(T* out, const T* x, const T* ln_w, const T* ln_b, float eps, const T* w,
                     const T* bias, int64_t n, int64_t m, int64_t k, Epilogue epilogue,
                     cudaStream_t stream) {
  if constexpr (!kTensorCore<T>) {
    return false;
  } else {
    if (!applies(x, w, n, m, k) || !detail::is_aligned(ln_w, 16) ||
        (ln_b && !detail::is_aligned(ln_b, 16)))
      return false;
    auto p = params(out, x, w, bias, n, m, k, epilogue);
    p.ln_w = ln_w, p.ln_b = ln_b, p.eps = eps;
    run<detail::GemvMode::kLayerNorm>(p, m, k, stream);
    return true;
  }
}

template <class T>
bool gemv_add(T* residual, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
              cudaStream_t stream) {
  if constexpr (!kTensorCore<T>) {
    return false;
  } else {
    if (!applies(x, w, n, m, k)) return false;
    run<detail::GemvMode::kAdd>(params(residual, x, w, bias, n, m, k, Epilogue::kBias), m, k,
                                stream);
    return true;
  }
}

#define KILN_INSTANTIATE(T, O)                                                                    \
  template bool gemv<T, O>(O*, const T*, const T*, const T*, int64_t, int64_t, int64_t, Epilogue, \
                           cudaStream_t);
KILN_INSTANTIATE(float, float)
KILN_INSTANTIATE(__half, __half)
KILN_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
KILN_INSTANTIATE(__half, float)
KILN_INSTANTIATE(__nv_bfloat16, float)
#undef KILN_INSTANTIATE
#define KILN_INSTANTIATE(T)                                                                     \
  template bool gemv_layer_norm<T>(T*, const T*, const T*, const T*, float, const T*, const T*, \
                                   int64_t, int64_t, int64_t, Epilogue, cudaStream_t);          \
  template bool gemv_add<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,        \
                            cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
