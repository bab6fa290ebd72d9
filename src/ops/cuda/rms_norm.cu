// RMSNorm and fused residual-add + RMSNorm: one block per row; pass 1 accumulates the sum of
// squares in fp32 (storing the rounded residual sum in the fused variant), pass 2 scales. The row
// is re-read from global memory (L2-resident for hidden sizes up to tens of thousands).
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

using detail::from_float;
using detail::to_float;

constexpr int kThreads = 256;

template <class T>
__global__ void rms_norm_kernel(T* __restrict__ out, T* __restrict__ residual,
                                const T* __restrict__ x, const T* __restrict__ w, int64_t d,
                                float eps) {
  detail::pdl_enter();
  const int64_t row = blockIdx.x;
  const T* in = x + row * d;
  T* res = residual ? residual + row * d : nullptr;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float v = to_float(in[i]);
    if (res) {
      const T s = from_float<T>(to_float(res[i]) + v);
      res[i] = s;
      v = to_float(s);
    }
    ss += v * v;
  }
  ss = detail::block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(d) + eps);
  const T* src = res ? res : in;
  T* o = out + row * d;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    // HF: (x * rsqrt(var + eps)).to(dtype) * weight
    const T normed = from_float<T>(to_float(src[i]) * inv);
    o[i] = from_float<T>(to_float(normed) * to_float(w[i]));
  }
}

}  // namespace

template <class T>
void rms_norm(T* out, T* residual, const T* x, const T* w, int64_t rows, int64_t d, float eps,
              cudaStream_t stream) {
  if (rows <= 0) return;
  cuda::launch(rms_norm_kernel<T>, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, stream,
               out, residual, x, w, d, eps);
  KILN_CUDA_LAUNCH_CHECK("rms_norm");
}

template void rms_norm<float>(float*, float*, const float*, const float*, int64_t, int64_t, float,
                              cudaStream_t);
template void rms_norm<__half>(__half*, __half*, const __half*, const __half*, int64_t, int64_t,
                               float, cudaStream_t);
template void rms_norm<__nv_bfloat16>(__nv_bfloat16*, __nv_bfloat16*, const __nv_bfloat16*,
                                      const __nv_bfloat16*, int64_t, int64_t, float, cudaStream_t);

}  // namespace kiln::ops::cuda
