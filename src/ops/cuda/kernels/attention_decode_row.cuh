// Paged attention for decode-only batches of MHA models (every sequence has q_len <= 1 and
// heads == kv_heads): the latency-bound case of batch-1..64 generation, where the general decode
// kernel (attention_decode.cuh: tiles of 64 keys, three barriers per tile) costs ~10 µs per call.
//
// One CTA of 128 threads per (sequence, head, split of the kv range; DecodeParams' split-K plan
// and workspace layout, combined by paged_attention_reduce_kernel). The CTA walks its keys in
// chunks of 128, one key per thread:
//  - the chunk's V rows are gathered with 16-byte cp.async into shared memory at the start of
//    the chunk (they do not depend on the scores);
//  - each thread reads its key's K row straight from the paged pool (16-byte loads, L1-allocated)
//    and dots it with q (fp32 in shared memory, pre-scaled by scale·log2 e: a broadcast read);
//  - chunk max / sum by block reductions, online-softmax rescale of the running state;
//  - P·V from shared memory: thread (chunk c of the head_dim, slice z) sums keys z, z + NS, ...
//    (NS = 128 / (head_dim / VEC)), the slices are summed through shared memory at the end.
// A single-chunk split (<= 128 keys: the whole sequence at short contexts) costs one pass of
// global loads, K and V in flight together. Same (m, l) log2-domain convention as the general
// kernel, so the reduce kernel combines either.
//
// Split launches with DecodeParams::counters combine their partials in the last CTA of each
// (sequence, head) to finish (no reduce kernel launch); without counters the reduce kernel does.
//
// Prefetch (DecodeParams::prefetch, APPEND launches): the first chunk's V rows (cp.async) and the
// first 8 16-byte pieces of each thread's K row (registers) are requested before the PDL wait, for
// every key before the newest (kv_len - 1). Those rows were written by earlier steps; in this step
// only the newest row is written (by this kernel when APPEND, else by the kv_cache_write launched
// just before), and q, k_new, v_new come from the previous kernel — all read after the wait. So the
// K/V loads overlap the QKV projection's tail and the dependency resolution instead of following
// them (launch.h: when a kernel starts, every kernel but its predecessor has completed). The
// metadata (block tables, lengths) is copied in before the step's first kernel.
//
// APPEND: the step's new K/V row (DecodeParams::k_new / v_new / slots) is stored into the pools
// by the CTA of the last split (the one holding key kv_len - 1, the new token), which reads that
// key from the new row instead of the pool: no separate kv_cache_write launch, and no read of
// what the kernel itself writes. A negative slot stores nothing and reads the pool, as
// kv_cache_write + attention would.
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/attention_decode.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::attn {

constexpr int kRowThreads = 128;  // threads per CTA = keys per chunk
// The wide instantiation: one chunk of up to 256 keys, for short contexts of a one-wave launch
// (one CTA per (sequence, head) instead of 128-key splits combined in their last CTA).
constexpr int kRowWideThreads = 256;

// Dynamic shared memory: V chunk [NT][D] T, then q [D] fp32, p [NT] fp32, reduction
// [NS][D] fp32 (NS * D = NT * VEC floats).
template <class T, int NT = kRowThreads>
__host__ __device__ inline int decode_row_smem_bytes(int head_dim) {
  constexpr int vec = 16 / sizeof(T);
  return NT * head_dim * static_cast<int>(sizeof(T)) + head_dim * 4 + NT * 4 + NT * vec * 4;
}

template <class T, bool APPEND, int NT = kRowThreads>
__global__ void __launch_bounds__(NT)
    paged_attention_decode_row_kernel(T* __restrict__ out,      // [n, heads * d]
                                      const T* __restrict__ q,  // [n, q_stride] rows
                                      int64_t q_stride,
                                      T* __restrict__ k_pool,  // [blocks, heads, bs, d]
                                      T* __restrict__ v_pool,  // [blocks, heads, bs, d]
                                      const int32_t* __restrict__ block_tables,  // [seqs, max_b]
                                      const int32_t* __restrict__ cu_seqlens,    // [seqs + 1]
                                      const int32_t* __restrict__ seq_kv_len,    // [seqs]
                                      float* __restrict__ ws_ml,   // [seqs, 1, heads, nsplit, 2]
                                      float* __restrict__ ws_acc,  // [seqs, 1, heads, nsplit, d]
                                      DecodeParams p) {
  // Prefetch in APPEND launches only: those are one wave (row_fusions_pay), where it shortens
  // the chain; a multi-wave grid keeps the registers (occupancy) instead.
  const bool prefetch = APPEND && p.prefetch;
  if (!prefetch) detail::pdl_enter();
  constexpr int VEC = 16 / sizeof(T);
  extern __shared__ __align__(16) unsigned char smem[];
  const int D = p.head_dim, NCH = D / VEC, NS = NT / NCH;
  T* sV = reinterpret_cast<T*>(smem);                 // [NT][D]
  float* sQ = reinterpret_cast<float*>(sV + NT * D);  // [D], pre-scaled
  float* sP = sQ + D;                                 // [NT] probabilities
  float* sRed = sP + NT;                              // [NS][D]
  const int tid = threadIdx.x;
  const int head = static_cast<int>(blockIdx.x % p.heads);
  const int s = static_cast<int>(blockIdx.x / p.heads);
  const int sp = blockIdx.y;

  const int q0 = cu_seqlens[s], q_len = cu_seqlens[s + 1] - q0;
  // A CTA leaving early still waits: were every CTA to exit without it, this grid could complete
  // (and its dependent start) before its predecessor has (launch.h's rule).
  if (q_len != 1) {  // q_len 0: nothing to do (the launcher guarantees q_len <= 1)
    if (prefetch) detail::pdl_enter();
    return;
  }
  const int kv_len = seq_kv_len[s];
  int seq_splits = 1;
  if (p.nsplit > 1) seq_splits = min(p.nsplit, max(1, ceil_div(kv_len, p.part)));
  if (sp >= seq_splits) {
    if (prefetch) detail::pdl_enter();
    return;
  }
  const bool to_ws = seq_splits > 1;
  const int kbeg = to_ws ? sp * p.part : 0;
  const int kend = (to_ws && sp < seq_splits - 1) ? min(kv_len, (sp + 1) * p.part) : kv_len;
  const int rowpos = kv_len - 1;  // the query's position (causal or not: it sees every key)
  const int32_t* table = block_tables + static_cast<int64_t>(s) * p.max_blocks;
  const float* bias_row =
      p.bias ? p.bias + static_cast<int64_t>(head) * (2 * p.bias_radius + 1) + p.bias_radius
             : nullptr;

  // The first chunk's rows of earlier steps, before the wait (see Prefetch above).
  constexpr int kPre = 8;  // 16-byte pieces of K prefetched per thread
  uint4 kpre[kPre];
  const int pre_keys =
      prefetch ? min(NT, min(kend, rowpos) - kbeg) : 0;  // keys kbeg + [0, pre_keys)
  if (pre_keys > 0) {
    for (int i = tid; i < pre_keys * NCH; i += NT) {
      const int j = i / NCH, c = i - j * NCH;
      cp_async16(sV + j * D + c * VEC,
                 v_pool + pool_row(table, kbeg + j, head, p.heads, p.block_size, D) + c * VEC,
                 true);
    }
    cp_async_commit();
    if (tid < pre_keys)
      load_row_pieces<T>(kpre, k_pool + pool_row(table, kbeg + tid, head, p.heads, p.block_size, D),
                         NCH);
  }
  if (prefetch) detail::pdl_enter();

  // The new token (key kv_len - 1) of an APPEND launch: stored here, read from its row below.
  const T* k_new = nullptr;
  const T* v_new = nullptr;
  int64_t dst = -1;  // its pool row (element offset) when stored here
  if constexpr (APPEND) {
    const int32_t slot = sp == seq_splits - 1 ? p.slots[q0] : -1;
    if (slot >= 0) {
      const int64_t src = static_cast<int64_t>(q0) * p.kv_stride + static_cast<int64_t>(head) * D;
      k_new = static_cast<const T*>(p.k_new) + src;
      v_new = static_cast<const T*>(p.v_new) + src;
      dst = slot_row(slot, head, p.heads, p.block_size, D);
    }
  }
  const int new_key = k_new ? kv_len - 1 : -1;  // -1: every key comes from the pools

  // After the wait, all the first chunk still needs is requested at once (one round trip to L2
  // instead of one per use): the newest key's K (into its thread's kpre) and V rows when that key
  // is in the first chunk, the new rows to append, q. NCH <= NT (D <= 256): one piece per thread.
  int pre_k = pre_keys, pre_v = pre_keys;  // first-chunk rows whose K / V are requested
  if (prefetch && rowpos < kend && rowpos - kbeg < NT) {
    const int j = rowpos - kbeg;  // == pre_keys
    const int64_t row = new_key >= 0 ? 0 : pool_row(table, rowpos, head, p.heads, p.block_size, D);
    const T* kr = new_key >= 0 ? k_new : k_pool + row;
    const T* vr = new_key >= 0 ? v_new : v_pool + row;
    if (tid < NCH) cp_async16(sV + j * D + tid * VEC, vr + tid * VEC, true);
    cp_async_commit();
    if (tid == j) load_row_pieces<T>(kpre, kr, NCH);
    pre_k = pre_v = j + 1;
  }
  uint4 kn = make_uint4(0u, 0u, 0u, 0u), vn = kn;  // APPEND: piece tid of the new rows
  if (dst >= 0 && tid < NCH) {
    kn = *reinterpret_cast<const uint4*>(k_new + tid * VEC);
    vn = *reinterpret_cast<const uint4*>(v_new + tid * VEC);
  }
  const T* qrow = q + static_cast<int64_t>(q0) * q_stride + static_cast<int64_t>(head) * D;
  if (tid < NCH) {
    float f[VEC];
    load16(qrow + tid * VEC, f);
#pragma unroll
    for (int e = 0; e < VEC; ++e) sQ[tid * VEC + e] = f[e] * p.scale_log2;
  }
  if (dst >= 0 && tid < NCH) {
    *reinterpret_cast<uint4*>(k_pool + dst + tid * VEC) = kn;
    *reinterpret_cast<uint4*>(v_pool + dst + tid * VEC) = vn;
  }

  // The requested pieces' share of the first chunk's scores, so that kpre is dead before the
  // key loop (registers: the loop's own K pieces would otherwise be live beside it).
  float a_pre = 0.f;
  if (pre_k > 0) {
    __syncthreads();  // sQ written
    if (tid < pre_k) a_pre = row_dot<T, kPre>(kpre, min(kPre, NCH), sQ, 0.f);
  }

  const int c_own = tid % NCH, z_own = tid / NCH;  // P·V role (z_own < NS for every thread)
  float acc[VEC];
#pragma unroll
  for (int e = 0; e < VEC; ++e) acc[e] = 0.f;
  float m_run = kNegInf, l_run = 0.f;

  for (int cb = kbeg; cb < kend; cb += NT) {
    const int nk = min(NT, kend - cb);
    const int done = cb == kbeg ? pre_v : 0;  // V rows already requested
    for (int i = tid + done * NCH; i < nk * NCH; i += NT) {
      const int j = i / NCH, c = i - j * NCH;
      const T* src =
          cb + j == new_key
              ? v_new + c * VEC
              : v_pool + pool_row(table, cb + j, head, p.heads, p.block_size, D) + c * VEC;
      cp_async16(sV + j * D + c * VEC, src, true);
    }
    cp_async_commit();
    __syncthreads();  // sQ written (first chunk); the previous chunk's sP reads are done

    float sc = kNegInf;
    if (tid < nk) {
      const int key = cb + tid;
      const T* kr =
          key == new_key ? k_new : k_pool + pool_row(table, key, head, p.heads, p.block_size, D);
      const bool pre = cb == kbeg && tid < pre_k;  // pieces [0, kPre) already in a_pre
      float a = pre ? a_pre : 0.f;
      for (int c0 = pre ? kPre : 0; c0 < NCH; c0 += kPre) {
        uint4 kv[kPre];
        load_row_pieces<T>(kv, kr + c0 * VEC, NCH - c0);
        a = row_dot<T, kPre>(kv, min(kPre, NCH - c0), sQ + c0 * VEC, a);
      }
      if (bias_row) a += rel_bias_log2(bias_row, p.bias_radius, key, rowpos);
      sc = a;
    }
    const float m_new = fmaxf(m_run, detail::block_max(sc));
    const float m_use = m_new == kNegInf ? 0.f : m_new;
    const float pj = tid < nk ? exp2f(sc - m_use) : 0.f;
    sP[tid] = pj;
    const float alpha = exp2f(m_run - m_use);
    l_run = l_run * alpha + detail::block_sum(pj);  // block_sum's barriers publish sP
    m_run = m_new;
    cp_async_wait<0>();
    __syncthreads();  // every thread's V rows have landed

#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[e] *= alpha;
    if (z_own < NS) {
      const T* vc = sV + c_own * VEC;
      for (int j = z_own; j < nk; j += NS) {
        float vf[VEC];
        load16(vc + j * D, vf);
        const float pw = sP[j];
#pragma unroll
        for (int e = 0; e < VEC; ++e) acc[e] = fmaf(pw, vf[e], acc[e]);
      }
    }
    __syncthreads();  // sV / sP are rewritten by the next chunk
  }

  if (z_own < NS) {
#pragma unroll
    for (int e = 0; e < VEC; ++e) sRed[z_own * D + c_own * VEC + e] = acc[e];
  }
  __syncthreads();
  const int64_t pidx = ((static_cast<int64_t>(s) * p.qrows_ws) * p.heads + head) * p.nsplit + sp;
  for (int d = tid; d < D; d += NT) {
    float v = 0.f;
    for (int z = 0; z < NS; ++z) v += sRed[z * D + d];
    if (!to_ws) {
      const float inv = l_run > 0.f ? 1.f / l_run : 0.f;
      out[(static_cast<int64_t>(q0) * p.heads + head) * D + d] = from_float<T>(v * inv);
    } else {
      ws_acc[pidx * D + d] = v;
    }
  }
  if (to_ws && tid == 0) *reinterpret_cast<float2*>(ws_ml + 2 * pidx) = make_float2(m_run, l_run);
  if (!to_ws || !p.counters) return;  // no split, or the reduce kernel combines

  // Split-K combine in the last CTA of this (sequence, head) to arrive (threadFenceReduction
  // pattern): partials published device-wide, one arrival each, the last one reads them all (from
  // L2) and resets the counter for the next launch, which comes after this grid completes.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (tid == 0) {
    unsigned* ctr = p.counters + static_cast<int64_t>(s) * p.heads + head;
    last = atomicAdd(ctr, 1u) == static_cast<unsigned>(seq_splits - 1);
    if (last) *ctr = 0u;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  // As paged_attention_reduce_kernel: one warp loads the splits' (m, l) in parallel, weights
  // exp2(m_z - max m) go to sP (free: the key loop is done), 1 / (sum of weighted l) to sQ[0].
  const int64_t base = pidx - sp;  // split 0
  if (tid < 32) {
    float mx = kNegInf;
    for (int z = tid; z < seq_splits; z += 32) mx = fmaxf(mx, __ldcg(ws_ml + 2 * (base + z)));
    for (int off = 16; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    float den = 0.f;
    for (int z = tid; z < seq_splits; z += 32) {
      const float m = __ldcg(ws_ml + 2 * (base + z));
      const float wt = m == kNegInf ? 0.f : exp2f(m - mx);
      sP[z] = wt;
      den += wt * __ldcg(ws_ml + 2 * (base + z) + 1);
    }
    for (int off = 16; off > 0; off /= 2) den += __shfl_xor_sync(0xffffffffu, den, off);
    if (tid == 0) sQ[0] = den > 0.f ? 1.f / den : 0.f;
  }
  __syncthreads();
  const float inv = sQ[0];
  for (int d = tid; d < D; d += NT) {
    float a = 0.f;
    for (int z = 0; z < seq_splits; ++z) a = fmaf(sP[z], __ldcg(ws_acc + (base + z) * D + d), a);
    out[(static_cast<int64_t>(q0) * p.heads + head) * D + d] = from_float<T>(a * inv);
  }
}

}  // namespace kiln::ops::cuda::attn
