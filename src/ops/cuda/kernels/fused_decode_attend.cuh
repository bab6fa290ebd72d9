// The fused decode kernel's attention (fused_decode.cuh): one (sequence, head) by the CTA's 256
// consumer threads, one key per thread in chunks of 256 with an online softmax; the step's K/V row
// is stored into the paged pools and read from the qkv rows.
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/fused_decode_common.cuh"

namespace kiln::ops::cuda::fused {

using detail::from_float;
using detail::to_float;

// Attention of sequence s at head `head` (the 256 consumer threads).
template <class T>
__device__ void fd_attend(const FusedParams& p, const FdSmem<T>& sm, int l, int s, int head) {
  constexpr int VEC = 8;
  const FusedDecodeArgs& a = p.a;
  const FusedDecodeLayer& L = p.layer[l];
  const int tid = threadIdx.x;
  const int q0 = a.cu_seqlens[s];
  if (a.cu_seqlens[s + 1] - q0 != 1) return;  // uniform: no query row
  const int D = a.head_dim, NCH = D / VEC, NS = kFdConsumers / NCH, E = a.hidden;
  const int kv_len = a.seq_kv_len[s];
  const int32_t slot = a.slots[q0];
  const int32_t* table = a.block_tables + static_cast<int64_t>(s) * a.max_blocks;
  const T* qr = static_cast<const T*>(a.qkv) + static_cast<int64_t>(q0) * 3 * E + head * D;
  const T* kn = qr + E;
  const T* vn = qr + 2 * E;
  T* kp = static_cast<T*>(L.k_pool);
  T* vp = static_cast<T*>(L.v_pool);
  if (tid < NCH) {
    const uint4 qv = __ldcg(reinterpret_cast<const uint4*>(qr + tid * VEC));
    const T* e = reinterpret_cast<const T*>(&qv);
#pragma unroll
    for (int j = 0; j < VEC; ++j) sm.sQ[tid * VEC + j] = to_float(e[j]) * L.scale_log2;
    if (slot >= 0) {
      const int64_t dst = attn::slot_row(slot, head, a.heads, a.block_size, D);
      *reinterpret_cast<uint4*>(kp + dst + tid * VEC) =
          __ldcg(reinterpret_cast<const uint4*>(kn + tid * VEC));
      *reinterpret_cast<uint4*>(vp + dst + tid * VEC) =
          __ldcg(reinterpret_cast<const uint4*>(vn + tid * VEC));
    }
  }
  detail::named_sync(kFdBar, kFdConsumers);
  const int new_key = slot >= 0 ? kv_len - 1 : -1;  // read from the qkv rows, not the pool
  const int c_own = tid % NCH, z_own = tid / NCH;
  float acc[VEC];
#pragma unroll
  for (int e = 0; e < VEC; ++e) acc[e] = 0.f;
  float m_run = attn::kNegInf, l_run = 0.f;
  for (int cb = 0; cb < kv_len; cb += kFdConsumers) {
    const int nk = min(kFdConsumers, kv_len - cb);
    float sc = attn::kNegInf;
    if (tid < nk) {
      const int key = cb + tid;
      float acc_s = 0.f;
      if (key == new_key) {
        for (int u = 0; u < NCH; ++u) {
          const uint4 kv4 = __ldcg(reinterpret_cast<const uint4*>(kn + u * VEC));
          acc_s = attn::dot16<T>(reinterpret_cast<const T*>(&kv4), sm.sQ + u * VEC, acc_s);
        }
      } else {
        uint4 kv[16];  // head_dim <= 128
        attn::load_row_pieces<T>(
            kv, kp + attn::pool_row(table, key, head, a.heads, a.block_size, D), NCH);
        acc_s = attn::row_dot<T>(kv, NCH, sm.sQ, acc_s);
      }
      sc = acc_s;
    }
    const float m_new = fmaxf(m_run, fd_reduce<true>(sc, sm.scratch));
    const float m_use = m_new == attn::kNegInf ? 0.f : m_new;
    const float pj = tid < nk ? exp2f(sc - m_use) : 0.f;
    sm.sP[tid] = pj;
    const float alpha = exp2f(m_run - m_use);
    l_run = l_run * alpha + fd_reduce<false>(pj, sm.scratch);  // its barriers publish sP
    m_run = m_new;
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[e] *= alpha;
    if (z_own < NS) {
#pragma unroll 4
      for (int j = z_own; j < nk; j += NS) {
        const int key = cb + j;
        uint4 v4;
        if (key == new_key)
          v4 = __ldcg(reinterpret_cast<const uint4*>(vn + c_own * VEC));
        else
          v4 = __ldg(reinterpret_cast<const uint4*>(
              vp + attn::pool_row(table, key, head, a.heads, a.block_size, D) + c_own * VEC));
        float vf[VEC];
        attn::load16<T>(reinterpret_cast<const T*>(&v4), vf);
        const float pw = sm.sP[j];
#pragma unroll
        for (int e = 0; e < VEC; ++e) acc[e] = fmaf(pw, vf[e], acc[e]);
      }
    }
    detail::named_sync(kFdBar, kFdConsumers);  // sP is rewritten by the next chunk
  }
  if (z_own < NS) {
#pragma unroll
    for (int e = 0; e < VEC; ++e) sm.sRed[z_own * D + c_own * VEC + e] = acc[e];
  }
  detail::named_sync(kFdBar, kFdConsumers);
  const float inv = l_run > 0.f ? 1.f / l_run : 0.f;
  T* out = static_cast<T*>(a.attn) + static_cast<int64_t>(q0) * E + head * D;
  for (int d = tid; d < D; d += kFdConsumers) {
    float v = 0.f;
    for (int z = 0; z < NS; ++z) v += sm.sRed[z * D + d];
    out[d] = from_float<T>(v * inv);
  }
  detail::named_sync(kFdBar, kFdConsumers);  // sQ / sRed are rewritten by the next item
}

}  // namespace kiln::ops::cuda::fused
