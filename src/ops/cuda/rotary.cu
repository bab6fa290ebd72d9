// Rotary position embedding in place on the query and key heads of packed qkv rows: one thread
// per (token, rotation pair, head); angle = position * inv_freq in fp32 as HF computes it, precise
// sincosf (no fast math), one rounding on store.
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
using detail::to_float;

template <class T>
__global__ void rotary_kernel(T* __restrict__ x, const int32_t* __restrict__ positions,
                              const float* __restrict__ inv_freq, int64_t n, int64_t row_width,
                              int num_heads, int head_dim, int half, bool interleaved,
                              float scaling, const int32_t* __restrict__ token_seq,
                              const int32_t* __restrict__ seq_len, int64_t base_len, int64_t rows) {
  detail::pdl_enter();
  const int64_t work = n * half * num_heads;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < work;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int h = static_cast<int>(idx % num_heads);
    const int i = static_cast<int>((idx / num_heads) % half);
    const int64_t t = idx / (static_cast<int64_t>(num_heads) * half);
    const float* f = inv_freq;
    if (token_seq) {
      int64_t row = static_cast<int64_t>(seq_len[token_seq[t]]) - base_len;
      row = row < 0 ? 0 : (row >= rows ? rows - 1 : row);
      f += row * half;
    }
    float s, c;
    sincosf(static_cast<float>(positions[t]) * f[i], &s, &c);
    c *= scaling;
    s *= scaling;
    T* v = x + t * row_width + static_cast<int64_t>(h) * head_dim;
    const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = to_float(v[a]), x1 = to_float(v[b]);
    v[a] = from_float<T>(x0 * c - x1 * s);
    v[b] = from_float<T>(x1 * c + x0 * s);
  }
}

}  // namespace

template <class T>
void rotary_embedding(T* x, const int32_t* positions, const float* inv_freq, int64_t n,
                      int64_t row_width, int num_heads, int head_dim, int rotary_dim,
                      bool interleaved, float attention_scaling, const int32_t* token_seq,
                      const int32_t* seq_len, int64_t base_len, int64_t rows, cudaStream_t stream) {
  const int64_t work = n * (rotary_dim / 2) * num_heads;
  if (work <= 0) return;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((work + threads - 1) / threads, 65535));
  cuda::launch(rotary_kernel<T>, dim3(blocks), dim3(threads), 0, stream, x, positions, inv_freq, n,
               row_width, num_heads, head_dim, rotary_dim / 2, interleaved, attention_scaling,
               token_seq, seq_len, base_len, rows);
  KILN_CUDA_LAUNCH_CHECK("rotary_embedding");
}

#define KILN_INSTANTIATE(T)                                                                       \
  template void rotary_embedding<T>(T*, const int32_t*, const float*, int64_t, int64_t, int, int, \
                                    int, bool, float, const int32_t*, const int32_t*, int64_t,    \
                                    int64_t, cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
