// gemv launcher: applicability checks and the CTA-size choice for kernels/gemv.cuh.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/gemv.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <type_traits>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/gemv.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
static_assert(kGemvMaxRows == detail::kGemvMaxN);
namespace {

// The input types the tensor-core GEMV takes; the entry points return false for the others.
template <class T>
constexpr bool kGemvInput = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

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

// One wave: the largest CTA (<= 16 warps, <= the k-steps) for which every CTA of the grid is
// resident at once, by the runtime's occupancy for this instantiation. At decode sizes a CTA is
// one or two rounds of loads, so a second, partial wave costs a whole CTA latency (e.g. the
// 300-tile gpt2-xl QKV GEMV at 8 warps: 2 CTAs per SM, 264 resident). 0 when no CTA size fits
// the grid in one wave (large m: warps_for's rule). KILN_GEMV_WAVE=0 turns it off (A/B).
template <class T, class OutT, bool Fold>
int one_wave_warps(int64_t tiles, int64_t steps) {
  static const bool off = switched_off("KILN_GEMV_WAVE");
  if (off) return 0;
  static std::array<std::atomic<int>, detail::kGemvMaxWarps + 1> blocks{};  // per SM; 0 unknown
  const int64_t sms = sm_count();
  for (int w = static_cast<int>(std::min<int64_t>(detail::kGemvMaxWarps, steps)); w >= 1; --w) {
    const int b = blocks_per_sm(blocks[w], detail::gemv_kernel<T, OutT, Fold>, w * 32, 0);
    if (b == 0) return 0;
    if (b * sms >= tiles) return w;
  }
  return 0;
}

// Applicability (as documented in gemv.h), then the launch. epilogue: detail::gemv_kernel's.
template <class T, class OutT, bool Fold = false>
bool launch_gemv(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
                 int epilogue, const detail::GemvNorm<T>& norm, cudaStream_t stream,
                 unsigned long long* trace = nullptr) {
  if (n < 1 || n > detail::kGemvMaxN || m < 1 || m > INT_MAX - detail::kGemvRows) return false;
  if (k < 8 || k % 8 != 0 || k > INT_MAX - 2 * detail::kGemvStep) return false;
  if (!detail::is_aligned(x, 16) || !detail::is_aligned(w, 16)) return false;
  const int wave = one_wave_warps<T, OutT, Fold>(detail::ceil_div(m, detail::kGemvRows),
                                                 detail::ceil_div(k, detail::kGemvStep));
  const int warps = wave > 0 ? wave : warps_for(m, k);
  if (epilogue == detail::kGemvAddNorm && norm.ln_w) {  // the tail: the row in registers
    const int64_t packs = m / 8;
    if (m % 8 != 0 || packs > int64_t{detail::kGemvNormPacks} * warps * 32) return false;
    for (const void* p :
         {static_cast<const void*>(norm.residual), static_cast<const void*>(norm.normed),
          static_cast<const void*>(norm.ln_w), static_cast<const void*>(norm.ln_b)})
      if (!detail::is_aligned(p, 16)) return false;
  }
  const int64_t grid = detail::ceil_div(m, detail::kGemvRows);
  KILN_CUDA_CHECK(launch(detail::gemv_kernel<T, OutT, Fold>, dim3(static_cast<unsigned>(grid)),
                         dim3(warps * 32), 0, stream, out, x, w, bias, static_cast<int>(n),
                         static_cast<int>(m), static_cast<int>(k), epilogue, norm, trace),
                  "gemv");
  return true;
}

}  // namespace

template <class T, class OutT>
bool gemv(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
          Epilogue epilogue, cudaStream_t stream) {
  if constexpr (!kGemvInput<T>) {
    return false;
  } else {
    static_assert(std::is_same_v<OutT, T> || std::is_same_v<OutT, float>);
    if (!bias) epilogue = Epilogue::kNone;
    return launch_gemv<T, OutT>(out, x, w, bias, n, m, k, static_cast<int>(epilogue), {}, stream);
  }
}

template <class T, class OutT>
bool gemv_traced(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
                 Epilogue epilogue, cudaStream_t stream, unsigned long long* trace) {
  if constexpr (!kGemvInput<T>) {
    return false;
  } else {
    if (!bias) epilogue = Epilogue::kNone;
    return launch_gemv<T, OutT>(out, x, w, bias, n, m, k, static_cast<int>(epilogue), {}, stream,
                                trace);
  }
}

template <class T>
bool gemv_add(T* residual, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
              cudaStream_t stream) {
  if constexpr (!kGemvInput<T>) {
    return false;
  } else {
    if (!residual) return false;
    detail::GemvNorm<T> norm;
    norm.residual = residual;
    return launch_gemv<T, T>(nullptr, x, w, bias, n, m, k, detail::kGemvAddNorm, norm, stream);
  }
}

template <class T>
bool gemv_layer_norm_folded(T* out, const T* x, const T* w_folded, const T* c, const float* rowsum,
                            float eps, int64_t n, int64_t m, int64_t k, bool gelu,
                            cudaStream_t stream) {
  if constexpr (!kGemvInput<T>) {
    return false;
  } else {
    if (!rowsum) return false;
    detail::GemvNorm<T> norm;
    norm.eps = eps;
    norm.rowsum = rowsum;
    return launch_gemv<T, T, true>(out, x, w_folded, c, n, m, k,
                                   gelu ? detail::kGemvLnFoldGelu : detail::kGemvLnFold, norm,
                                   stream);
  }
}

template <class T>
bool gemv_add_layer_norm(T* residual, T* normed, const T* x, const T* w, const T* bias,
                         const T* ln_w, const T* ln_b, float eps, int64_t n, int64_t m, int64_t k,
                         unsigned* counter, cudaStream_t stream) {
  if constexpr (!kGemvInput<T>) {
    return false;
  } else {
    static const bool off = switched_off("KILN_GEMV_ADDNORM");  // linear + add_layer_norm (A/B)
    if (off || !counter || !residual || !normed || !ln_w) return false;
    detail::GemvNorm<T> norm;
    norm.residual = residual;
    norm.ln_w = ln_w;
    norm.ln_b = ln_b;
    norm.eps = eps;
    norm.normed = normed;
    norm.counter = counter;
    return launch_gemv<T, T>(nullptr, x, w, bias, n, m, k, detail::kGemvAddNorm, norm, stream);
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
template bool gemv_traced<__half, __half>(__half*, const __half*, const __half*, const __half*,
                                          int64_t, int64_t, int64_t, Epilogue, cudaStream_t,
                                          unsigned long long*);
#define KILN_INSTANTIATE(T)                                                                        \
  template bool gemv_add_layer_norm<T>(T*, T*, const T*, const T*, const T*, const T*, const T*,   \
                                       float, int64_t, int64_t, int64_t, unsigned*, cudaStream_t); \
  template bool gemv_add<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,           \
                            cudaStream_t);                                                         \
  template bool gemv_layer_norm_folded<T>(T*, const T*, const T*, const T*, const float*, float,   \
                                          int64_t, int64_t, int64_t, bool, cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
