// Paged attention, generic scalar fallback: any head_dim <= kFallbackMaxDim, any alignment and
// stride. One warp per (query token, head); 32 keys at a time, lane j scores key j, then each lane
// accumulates head-dim columns lane, lane + 32, ... Slow (K/V read per head, uncoalesced K), only
// for shapes the vectorised kernels cannot take (head_dim not a multiple of 16 bytes, > 256).
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::attn {

constexpr int kFallbackMaxDim = 512;

struct FallbackParams {
  int num_seqs, heads, kv_heads, group, head_dim, block_size, max_blocks;
  int64_t num_tokens;
  float scale_log2;
  int causal;         // 0: every row sees all seq_kv_len keys
  const float* bias;  // [heads, 2 * bias_radius + 1] fp32, or null
  int bias_radius;
};

template <class T>
__global__ void __launch_bounds__(128)
    paged_attention_fallback_kernel(T* __restrict__ out, const T* __restrict__ q, int64_t q_stride,
                                    const T* __restrict__ k_pool, const T* __restrict__ v_pool,
                                    const int32_t* __restrict__ block_tables,
                                    const int32_t* __restrict__ cu_seqlens,
                                    const int32_t* __restrict__ seq_kv_len, FallbackParams p) {
  detail::pdl_enter();
  constexpr int NA = kFallbackMaxDim / 32;
  extern __shared__ float fsm[];  // [4 warps][head_dim]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int D = p.head_dim;
  float* sq = fsm + warp * D;
  const int64_t id = static_cast<int64_t>(blockIdx.x) * 4 + warp;
  if (id >= p.num_tokens * p.heads) return;
  const int64_t tok = id / p.heads;
  const int head = static_cast<int>(id % p.heads);
  T* o = out + (tok * p.heads + head) * D;
  // Sequence of this token: last s with cu_seqlens[s] <= tok.
  int lo = 0, hi = p.num_seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu_seqlens[mid] <= tok)
      lo = mid;
    else
      hi = mid - 1;
  }
  const int s = lo;
  const int q0 = cu_seqlens[s], q_len = cu_seqlens[s + 1] - q0;
  const int pos = seq_kv_len[s] - q_len + static_cast<int>(tok - q0);  // query position
  const int nkeys = p.causal ? pos + 1 : seq_kv_len[s];
  if (tok >= cu_seqlens[p.num_seqs] || nkeys <= 0) {
    for (int d = lane; d < D; d += 32) o[d] = from_float<T>(0.f);
    return;
  }
  const int kvh = head / p.group;
  const int32_t* table = block_tables + static_cast<int64_t>(s) * p.max_blocks;
  for (int d = lane; d < D; d += 32)
    sq[d] = to_float(q[tok * q_stride + static_cast<int64_t>(head) * D + d]) * p.scale_log2;
  __syncwarp();
  float acc[NA];
#pragma unroll
  for (int i = 0; i < NA; ++i) acc[i] = 0.f;
  float m = kNegInf, l = 0.f;
  for (int k0 = 0; k0 < nkeys; k0 += 32) {
    const int key = k0 + lane;
    float sc = kNegInf;
    int64_t base = 0;
    if (key < nkeys) {
      base = pool_row(table, key, kvh, p.kv_heads, p.block_size, D);
      float a = 0.f;
      for (int d = 0; d < D; ++d) a = fmaf(sq[d], to_float(k_pool[base + d]), a);
      if (p.bias)
        a += rel_bias_log2(p.bias + head * (2 * p.bias_radius + 1) + p.bias_radius, p.bias_radius,
                           key, pos);
      sc = a;
    }
    float mx = sc;
    for (int off = 16; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const float m_new = fmaxf(m, mx);  // finite: key k0 is visible
    const float pj = exp2f(sc - m_new);
    float sum = pj;
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float alpha = exp2f(m - m_new);
    l = l * alpha + sum;
    m = m_new;
#pragma unroll
    for (int i = 0; i < NA; ++i) acc[i] *= alpha;
    const int nk = min(32, nkeys - k0);
    for (int jj = 0; jj < nk; ++jj) {
      const float pb = __shfl_sync(0xffffffffu, pj, jj);
      const int64_t bb = __shfl_sync(0xffffffffu, base, jj);
#pragma unroll
      for (int i = 0; i < NA; ++i) {
        const int d = lane + 32 * i;
        if (d < D) acc[i] = fmaf(pb, to_float(v_pool[bb + d]), acc[i]);
      }
    }
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
  for (int i = 0; i < NA; ++i) {
    const int d = lane + 32 * i;
    if (d < D) o[d] = from_float<T>(acc[i] * inv);
  }
}

}  // namespace kiln::ops::cuda::attn
