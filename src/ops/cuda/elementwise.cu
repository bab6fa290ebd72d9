// Elementwise kernels (activation in place, add): grid-stride loops over 16-byte packs when every
// pointer is 16-byte aligned, scalar otherwise; fp32 arithmetic, one rounding on store. The
// activation formulas are those of ops/cpu/activation.cc (precise libm-equivalent functions, no
// fast-math) so fp32 results agree to a few ulp.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include <algorithm>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

using detail::from_float;
using detail::Pack;
using detail::to_float;

constexpr int kThreads = 256;
constexpr float kSqrt2OverPi = 0.7978845608028654f;

__device__ __forceinline__ float gelu_exact(float v) {
  return 0.5f * v * (1.f + erff(v * 0.7071067811865476f));
}
__device__ __forceinline__ float sigmoid(float v) { return 1.f / (1.f + expf(-v)); }

__device__ __forceinline__ float act(float v, ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kGeluExact:
      return gelu_exact(v);
    case ActivationKind::kGeluTanh:
    case ActivationKind::kGeluAccurate:
      return 0.5f * v * (1.f + tanhf(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    case ActivationKind::kGeluFast:
      return 0.5f * v * (1.f + tanhf(v * 0.7978845608f * (1.f + 0.044715f * v * v)));
    case ActivationKind::kQuickGelu:
      return v * sigmoid(1.702f * v);
    case ActivationKind::kRelu:
      return v > 0.f ? v : 0.f;
    case ActivationKind::kSilu:
      return v * sigmoid(v);
    case ActivationKind::kTanh:
      return tanhf(v);
    case ActivationKind::kSigmoid:
      return sigmoid(v);
    case ActivationKind::kLinear:
      return v;
    case ActivationKind::kMish:
      return v * tanhf(log1pf(expf(v)));
    case ActivationKind::kRelu6:
      return fminf(fmaxf(v, 0.f), 6.f);
    case ActivationKind::kRelu2:
      return v > 0.f ? v * v : 0.f;
    case ActivationKind::kLeakyRelu:
      return v > 0.f ? v : 0.01f * v;
    case ActivationKind::kGelu10:
      return fminf(fmaxf(gelu_exact(v), -10.f), 10.f);
  }
  return v;
}

int grid_for(int64_t work) {
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(detail::ceil_div(work, kThreads), 8192)));
}

// x [count] = act(x). VEC elements per access (1 or 16 bytes' worth).
template <class T, int VEC>
__global__ void activation_kernel(T* __restrict__ x, int64_t count, ActivationKind kind) {
  detail::pdl_enter();
  const int64_t packs = count / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += stride) {
    Pack<T, VEC> v = detail::load_pack<T, VEC>(x + p * VEC);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v.v[j] = from_float<T>(act(to_float(v.v[j]), kind));
    detail::store_pack<T, VEC>(x + p * VEC, v);
  }
  // tail (count % VEC elements), handled by the first threads
  const int64_t tail = packs * VEC + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (VEC > 1 && tail < count) x[tail] = from_float<T>(act(to_float(x[tail]), kind));
}

template <class T, int VEC>
__global__ void add_kernel(T* out, const T* a, const T* b, int64_t count) {
  detail::pdl_enter();
  const int64_t packs = count / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < packs;
       p += stride) {
    const Pack<T, VEC> va = detail::load_pack<T, VEC>(a + p * VEC);
    const Pack<T, VEC> vb = detail::load_pack<T, VEC>(b + p * VEC);
    Pack<T, VEC> o;
#pragma unroll
    for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(to_float(va.v[j]) + to_float(vb.v[j]));
    detail::store_pack<T, VEC>(out + p * VEC, o);
  }
  const int64_t tail = packs * VEC + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (VEC > 1 && tail < count) out[tail] = from_float<T>(to_float(a[tail]) + to_float(b[tail]));
}

// out [rows, d] = act(x[:, :d]) * x[:, d:].
template <class T>
__global__ void gated_kernel(T* __restrict__ out, const T* __restrict__ x, int64_t rows, int64_t d,
                             ActivationKind kind) {
  detail::pdl_enter();
  const int64_t count = rows * d;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / d, c = i - r * d;
    const T* row = x + r * 2 * d;
    // HF: act(gate) is rounded to T before the product, as torch evaluates it.
    const float g = to_float(from_float<T>(act(to_float(row[c]), kind)));
    out[i] = from_float<T>(g * to_float(row[d + c]));
  }
}

}  // namespace

template <class T>
void activation(T* x, int64_t count, ActivationKind kind, cudaStream_t stream) {
  if (count <= 0 || kind == ActivationKind::kLinear) return;
  constexpr int V = detail::kVec16<T>;
  if (detail::is_aligned(x, 16)) {
    cuda::launch(activation_kernel<T, V>, dim3(grid_for(count / V + 1)), dim3(kThreads), 0, stream,
                 x, count, kind);
  } else {
    cuda::launch(activation_kernel<T, 1>, dim3(grid_for(count)), dim3(kThreads), 0, stream, x,
                 count, kind);
  }
  KILN_CUDA_LAUNCH_CHECK("activation");
}

template <class T>
void add(T* out, const T* a, const T* b, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  constexpr int V = detail::kVec16<T>;
  if (detail::is_aligned(out, 16) && detail::is_aligned(a, 16) && detail::is_aligned(b, 16)) {
    cuda::launch(add_kernel<T, V>, dim3(grid_for(count / V + 1)), dim3(kThreads), 0, stream, out, a,
                 b, count);
  } else {
    cuda::launch(add_kernel<T, 1>, dim3(grid_for(count)), dim3(kThreads), 0, stream, out, a, b,
                 count);
  }
  KILN_CUDA_LAUNCH_CHECK("add");
}

template <class T>
void gated_activation(T* out, const T* x, int64_t rows, int64_t d, ActivationKind kind,
                      cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return;
  cuda::launch(gated_kernel<T>, dim3(grid_for(rows * d)), dim3(kThreads), 0, stream, out, x, rows,
               d, kind);
  KILN_CUDA_LAUNCH_CHECK("gated_activation");
}

#define KILN_INSTANTIATE(T)                                                                        \
  template void activation<T>(T*, int64_t, ActivationKind, cudaStream_t);                          \
  template void gated_activation<T>(T*, const T*, int64_t, int64_t, ActivationKind, cudaStream_t); \
  template void add<T>(T*, const T*, const T*, int64_t, cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
