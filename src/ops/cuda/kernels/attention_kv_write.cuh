// kv_cache_write: one thread per (token, kv head, 16-byte chunk) (VEC elements), or per element
// when head_dim / strides / pointers do not allow 16-byte accesses (VEC == 1).
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::attn {

template <class T, int VEC>
__global__ void __launch_bounds__(256)
    kv_cache_write_kernel(T* __restrict__ k_pool,   // [num_blocks, kv_heads, bs, d]
                          T* __restrict__ v_pool,   // [num_blocks, kv_heads, bs, d]
                          const T* __restrict__ k,  // [n, kv_stride] rows
                          const T* __restrict__ v,  // [n, kv_stride] rows
                          int64_t kv_stride, const int32_t* __restrict__ slots,  // [n]
                          int64_t n, int kv_heads, int bs, int d) {
  detail::pdl_enter();
  const int nch = d / VEC;
  const int64_t per_token = static_cast<int64_t>(kv_heads) * nch;
  const int64_t total = n * per_token;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / per_token;
    const int rem = static_cast<int>(i - t * per_token);
    const int h = rem / nch, c = rem - h * nch;
    const int32_t slot = slots[t];
    if (slot < 0) continue;  // padding slot: nothing to store
    const int64_t blk = slot / bs, off = slot % bs;
    const int64_t dst = ((blk * kv_heads + h) * bs + off) * d + static_cast<int64_t>(c) * VEC;
    const int64_t src = t * kv_stride + static_cast<int64_t>(h) * d + static_cast<int64_t>(c) * VEC;
    if constexpr (VEC * sizeof(T) == 16) {
      *reinterpret_cast<uint4*>(k_pool + dst) = *reinterpret_cast<const uint4*>(k + src);
      *reinterpret_cast<uint4*>(v_pool + dst) = *reinterpret_cast<const uint4*>(v + src);
    } else {
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        k_pool[dst + e] = k[src + e];
        v_pool[dst + e] = v[src + e];
      }
    }
  }
}

}  // namespace kiln::ops::cuda::attn
