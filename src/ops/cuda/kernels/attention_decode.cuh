// Paged attention, decode / short-query path (SIMT, fp32 math): one CTA of 128 threads per
// (sequence, kv head, slice of <= 16 query heads of that kv head's group, chunk of query rows,
// split of the kv range). All R = rows x heads query vectors of the CTA share each K/V tile, so a
// GQA/MQA group reads its K/V once. K/V tiles of KT keys are gathered from the paged pools with
// 16-byte cp.async into a double-buffered shared-memory ring; per tile: scores (q·k, several
// threads per dot product when R is small), online softmax (fp32, exp2 domain: q is pre-scaled
// by scale·log2 e), then P·V where each thread owns 16-byte chunks of output rows and, when there
// are fewer chunks than threads, a slice of the tile's keys (slices are summed at the end).
// Split-K: a sequence whose kv range is partitioned writes unnormalised partial (m, l, acc) rows
// to the workspace and paged_attention_reduce_kernel combines them. Not causal: every row sees
// all seq_kv_len keys (cross-attention, encoder). The optional relative position bias is added
// when the scores are stored (a uniform branch on the kernel parameter).
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::attn {

constexpr int kDecodeThreads = 128;
constexpr int kDecodeMaxRows = 16;  // query vectors per CTA: rows * head_dim / 128 <= 32 floats
constexpr int kDecodeMaxAcc = 32;   // fp32 accumulators per thread

struct DecodeParams {
  int num_seqs, heads, kv_heads, group, head_dim, block_size, max_blocks;
  int hs;         // query heads per CTA (a slice of the group)
  int slices;     // ceil(group / hs)
  int qmax;       // query rows per CTA; sequences with q_len <= qmax are "decode" sequences
  int qchunks;    // CTAs along the query rows of one sequence
  int skip_long;  // 1: sequences with q_len > qmax are left to the context kernel
  int nsplit;     // kv partitions (grid.y); 1: no split-K
  int part;       // keys per partition
  int qrows_ws;   // workspace rows per (sequence, head): min(max_q_len, qmax)
  float scale_log2;
  int causal;         // 0: no causal mask
  const float* bias;  // [heads, 2 * bias_radius + 1] fp32, or null
  int bias_radius;
  // Decode-row kernel only: this step's K/V rows to append (PagedAttentionArgs::slots), or null.
  const void* k_new;  // [tokens, kv_stride] T
  const void* v_new;  // [tokens, kv_stride] T
  int64_t kv_stride;
  const int32_t* slots;  // [tokens]
  unsigned* counters;    // decode-row kernel: [seqs, heads] arrival counters, or null
  bool prefetch;         // decode-row kernel: first chunk's earlier rows requested before the wait
};

template <class T>
__host__ __device__ constexpr int decode_tile_keys() {
  return sizeof(T) == 2 ? 64 : 32;
}

// Dynamic shared memory layout (byte offsets, each 16-byte aligned).
struct DecodeSmem {
  int k, v, q, s, m, l, alpha, red, total;
};
template <class T>
__host__ __device__ inline DecodeSmem decode_smem(int head_dim, int rows) {
  constexpr int vec = 16 / sizeof(T), kt = decode_tile_keys<T>();
  auto up = [](int b) { return (b + 15) / 16 * 16; };
  DecodeSmem l{};
  const int kv_bytes = up(2 * kt * (head_dim + vec) * static_cast<int>(sizeof(T)));
  l.k = 0;
  l.v = l.k + kv_bytes;
  l.q = l.v + kv_bytes;
  l.s = l.q + up(rows * head_dim * 4);
  l.m = l.s + up(rows * kt * 4);
  l.l = l.m + up(rows * 4);
  l.alpha = l.l + up(rows * 4);
  l.red = l.alpha + up(rows * 4);
  l.total = l.red + kDecodeThreads * vec * 4;
  return l;
}

template <class T>
__global__ void __launch_bounds__(kDecodeThreads)
    paged_attention_decode_kernel(T* __restrict__ out,      // [n, heads * d]
                                  const T* __restrict__ q,  // [n, q_stride] rows
                                  int64_t q_stride,
                                  const T* __restrict__ k_pool,  // [blocks, kv_heads, bs, d]
                                  const T* __restrict__ v_pool,  // [blocks, kv_heads, bs, d]
                                  const int32_t* __restrict__ block_tables,  // [seqs, max_blocks]
                                  const int32_t* __restrict__ cu_seqlens,    // [seqs + 1]
                                  const int32_t* __restrict__ seq_kv_len,    // [seqs]
                                  float* __restrict__ ws_ml,   // [seqs, qrows_ws, heads, nsplit, 2]
                                  float* __restrict__ ws_acc,  // [seqs, qrows_ws, heads, nsplit, d]
                                  DecodeParams p) {
  detail::pdl_enter();
  constexpr int NT = kDecodeThreads, VEC = 16 / sizeof(T), KT = decode_tile_keys<T>();
  constexpr int CPT = kDecodeMaxAcc / VEC;  // 16-byte output chunks per thread
  extern __shared__ __align__(16) unsigned char smem[];
  const int D = p.head_dim, NCH = D / VEC, DS = D + VEC;
  const DecodeSmem lay = decode_smem<T>(D, p.hs * p.qmax);
  T* sK = reinterpret_cast<T*>(smem + lay.k);              // [2][KT][DS]
  T* sV = reinterpret_cast<T*>(smem + lay.v);              // [2][KT][DS]
  float* sQ = reinterpret_cast<float*>(smem + lay.q);      // [R][D], pre-scaled
  float* sS = reinterpret_cast<float*>(smem + lay.s);      // [R][KT] scores, then probabilities
  float* sM = reinterpret_cast<float*>(smem + lay.m);      // [R] running max (log2 domain)
  float* sL = reinterpret_cast<float*>(smem + lay.l);      // [R] running sum
  float* sA = reinterpret_cast<float*>(smem + lay.alpha);  // [R] this tile's rescale
  float* sRed = reinterpret_cast<float*>(smem + lay.red);  // [slices][NC][VEC]
  const int tid = threadIdx.x;

  int bx = blockIdx.x;
  const int qc = bx % p.qchunks;
  bx /= p.qchunks;
  const int sl = bx % p.slices;
  bx /= p.slices;
  const int kvh = bx % p.kv_heads;
  const int s = bx / p.kv_heads;
  const int sp = blockIdx.y;

  const int q0 = cu_seqlens[s], q_len = cu_seqlens[s + 1] - q0;
  const bool dec = q_len <= p.qmax;
  if (q_len <= 0 || (!dec && p.skip_long)) return;
  const int qi0 = qc * p.qmax;
  if (qi0 >= q_len) return;
  const int nq = min(p.qmax, q_len - qi0);
  const int h0 = sl * p.hs, nh = min(p.hs, p.group - h0);
  const int R = nq * nh;  // rows r = qi * nh + hh
  const int kv_len = seq_kv_len[s], first_pos = kv_len - q_len;
  int seq_splits = 1;
  if (dec && p.nsplit > 1) seq_splits = min(p.nsplit, max(1, ceil_div(kv_len, p.part)));
  if (sp >= seq_splits) return;
  const bool to_ws = seq_splits > 1;
  // Exclusive end of the keys the CTA's last row sees.
  const int kvis = p.causal ? first_pos + qi0 + nq : kv_len;
  const int kbeg = to_ws ? sp * p.part : 0;
  const int kend = (to_ws && sp < seq_splits - 1) ? min(kvis, (sp + 1) * p.part) : kvis;
  const int ntiles = kend > kbeg ? ceil_div(kend - kbeg, KT) : 0;
  const int32_t* table = block_tables + static_cast<int64_t>(s) * p.max_blocks;

  for (int i = tid; i < R * D; i += NT) {
    const int r = i / D, d = i - r * D, qi = r / nh, hh = r - qi * nh;
    const int64_t tok = q0 + qi0 + qi;
    const int head = kvh * p.group + h0 + hh;
    sQ[i] = to_float(q[tok * q_stride + static_cast<int64_t>(head) * D + d]) * p.scale_log2;
  }
  for (int r = tid; r < R; r += NT) {
    sM[r] = kNegInf;
    sL[r] = 0.f;
  }

  auto load_tile = [&](int buf, int t) {
    const int start = kbeg + t * KT;
    T* dk = sK + buf * KT * DS;
    T* dv = sV + buf * KT * DS;
    for (int i = tid; i < KT * NCH; i += NT) {
      const int j = i / NCH, c = i - j * NCH;
      const int key = start + j;
      const bool valid = key < kend;
      int64_t off = 0;
      if (valid) off = pool_row(table, key, kvh, p.kv_heads, p.block_size, D) + c * VEC;
      cp_async16(dk + j * DS + c * VEC, k_pool + off, valid);
      cp_async16(dv + j * DS + c * VEC, v_pool + off, valid);
    }
  };

  // Thread roles. Scores: tpd threads per dot product. Softmax: tpr threads per row. P·V: chunk
  // c_base (+ k * NT) of the R * NCH output chunks, keys j = slice (mod pv_slices).
  const int dots = R * KT;
  int tpd = 1;
  while (tpd * 2 * dots <= NT && tpd * 2 <= NCH) tpd *= 2;
  int tpr = 1;
  while (tpr * 2 * R <= NT && tpr < 32) tpr *= 2;
  const int NC = R * NCH;
  const int pv_slices = NC >= NT ? 1 : NT / NC;
  int c_base = tid, slice = 0;
  if (NC < NT) {
    c_base = tid % NC;
    slice = tid / NC;
    if (slice >= pv_slices) c_base = NC;  // idle
  }
  float acc[CPT][VEC];
#pragma unroll
  for (int k = 0; k < CPT; ++k)
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[k][e] = 0.f;

  if (ntiles > 0) load_tile(0, 0);
  cp_async_commit();
  for (int t = 0; t < ntiles; ++t) {
    const int buf = t & 1;
    if (t + 1 < ntiles) load_tile(buf ^ 1, t + 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const T* cK = sK + buf * KT * DS;
    const T* cV = sV + buf * KT * DS;
    const int tstart = kbeg + t * KT;
    const int tn = min(KT, kend - tstart);

    // Scores (uniform trip count: every lane reaches the shuffles).
    for (int base = 0; base < dots * tpd; base += NT) {
      const int i = base + tid;
      const bool valid = i < dots * tpd;
      const int dot = i / tpd, part = i - dot * tpd;
      const int r = dot / KT, j = dot - r * KT;
      float a = 0.f;
      if (valid && j < tn) {
        const int c0 = part * NCH / tpd, c1 = (part + 1) * NCH / tpd;
        const T* kr = cK + j * DS;
        const float* qr = sQ + r * D;
        for (int c = c0; c < c1; ++c) a = dot16<T>(kr + c * VEC, qr + c * VEC, a);
      }
      for (int off = tpd / 2; off > 0; off /= 2) a += __shfl_xor_sync(0xffffffffu, a, off);
      if (valid && part == 0) {
        const int rowpos = first_pos + qi0 + r / nh, key = tstart + j;
        const bool vis = j < tn && (!p.causal || key <= rowpos);
        if (vis && p.bias) {
          const int head = kvh * p.group + h0 + r % nh;
          a += rel_bias_log2(
              p.bias + static_cast<int64_t>(head) * (2 * p.bias_radius + 1) + p.bias_radius,
              p.bias_radius, key, rowpos);
        }
        sS[r * KT + j] = vis ? a : kNegInf;
      }
    }
    __syncthreads();

    // Online softmax, tpr lanes per row (all threads reach the shuffles).
    {
      const int r = tid / tpr, part = tid - r * tpr;
      const bool valid = r < R;
      float mx = kNegInf;
      if (valid)
        for (int j = part; j < KT; j += tpr) mx = fmaxf(mx, sS[r * KT + j]);
      for (int off = tpr / 2; off > 0; off /= 2)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = valid ? sM[r] : 0.f;
      const float m_new = fmaxf(m_old, mx);
      const float m_use = m_new == kNegInf ? 0.f : m_new;
      float sum = 0.f;
      if (valid)
        for (int j = part; j < KT; j += tpr) {
          const float pj = exp2f(sS[r * KT + j] - m_use);
          sS[r * KT + j] = pj;
          sum += pj;
        }
      for (int off = tpr / 2; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      if (valid && part == 0) {
        const float alpha = exp2f(m_old - m_use);
        sA[r] = alpha;
        sL[r] = sL[r] * alpha + sum;
        sM[r] = m_new;
      }
    }
    __syncthreads();

    // acc = acc * alpha + P · V
#pragma unroll
    for (int k = 0; k < CPT; ++k) {
      const int c = c_base + k * NT;
      if (c < NC) {
        const int r = c / NCH, dv = c - r * NCH;
        const float alpha = sA[r];
#pragma unroll
        for (int e = 0; e < VEC; ++e) acc[k][e] *= alpha;
        const float* pr = sS + r * KT;
        const T* vc = cV + dv * VEC;
        for (int j = slice; j < tn; j += pv_slices) {
          const float pj = pr[j];
          float vf[VEC];
          load16(vc + j * DS, vf);
#pragma unroll
          for (int e = 0; e < VEC; ++e) acc[k][e] = fmaf(pj, vf[e], acc[k][e]);
        }
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();
  __syncthreads();

  bool owner = true;  // does this thread hold final values for its chunks
  if (pv_slices > 1) {
    if (c_base < NC)
#pragma unroll
      for (int e = 0; e < VEC; ++e) sRed[(slice * NC + c_base) * VEC + e] = acc[0][e];
    __syncthreads();
    owner = tid < NC;  // slice 0, c_base == tid
    if (owner)
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        float a = 0.f;
        for (int z = 0; z < pv_slices; ++z) a += sRed[(z * NC + tid) * VEC + e];
        acc[0][e] = a;
      }
  }
  if (!owner) return;
#pragma unroll
  for (int k = 0; k < CPT; ++k) {
    const int c = c_base + k * NT;
    if (c >= NC) continue;
    const int r = c / NCH, dv = c - r * NCH, qi = r / nh, hh = r - qi * nh;
    const int64_t tok = q0 + qi0 + qi;
    const int head = kvh * p.group + h0 + hh;
    if (!to_ws) {
      const float l = sL[r], inv = l > 0.f ? 1.f / l : 0.f;
      float o[VEC];
#pragma unroll
      for (int e = 0; e < VEC; ++e) o[e] = acc[k][e] * inv;
      store16(out + (tok * p.heads + head) * D + dv * VEC, o);
    } else {
      const int64_t pidx =
          ((static_cast<int64_t>(s) * p.qrows_ws + qi0 + qi) * p.heads + head) * p.nsplit + sp;
      float* wa = ws_acc + pidx * D + dv * VEC;
#pragma unroll
      for (int e = 0; e < VEC; e += 4)
        *reinterpret_cast<float4*>(wa + e) =
            make_float4(acc[k][e], acc[k][e + 1], acc[k][e + 2], acc[k][e + 3]);
      if (dv == 0) *reinterpret_cast<float2*>(ws_ml + 2 * pidx) = make_float2(sM[r], sL[r]);
    }
  }
}

// Split-K combine: one warp per (sequence, query row, head) of a split decode sequence.
// Dynamic smem: [4 warps][nsplit] weights.
template <class T>
__global__ void __launch_bounds__(128)
    paged_attention_reduce_kernel(T* __restrict__ out, const int32_t* __restrict__ cu_seqlens,
                                  const int32_t* __restrict__ seq_kv_len,
                                  const float* __restrict__ ws_ml, const float* __restrict__ ws_acc,
                                  DecodeParams p) {
  detail::pdl_enter();
  extern __shared__ float wsm[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* w = wsm + warp * p.nsplit;
  int64_t id = static_cast<int64_t>(blockIdx.x) * 4 + warp;
  if (id >= static_cast<int64_t>(p.num_seqs) * p.qrows_ws * p.heads) return;
  const int head = static_cast<int>(id % p.heads);
  id /= p.heads;
  const int qi = static_cast<int>(id % p.qrows_ws);
  const int s = static_cast<int>(id / p.qrows_ws);
  const int q0 = cu_seqlens[s], q_len = cu_seqlens[s + 1] - q0;
  if (q_len <= 0 || q_len > p.qmax || qi >= q_len) return;
  const int ns = min(p.nsplit, max(1, ceil_div(seq_kv_len[s], p.part)));
  if (ns <= 1) return;  // written directly by the decode kernel
  const int64_t pidx0 = ((static_cast<int64_t>(s) * p.qrows_ws + qi) * p.heads + head) * p.nsplit;
  float mx = kNegInf;
  for (int z = lane; z < ns; z += 32) mx = fmaxf(mx, ws_ml[2 * (pidx0 + z)]);
  for (int off = 16; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  float den = 0.f;
  for (int z = lane; z < ns; z += 32) {
    const float m = ws_ml[2 * (pidx0 + z)];
    const float wt = m == kNegInf ? 0.f : exp2f(m - mx);
    w[z] = wt;
    den += wt * ws_ml[2 * (pidx0 + z) + 1];
  }
  for (int off = 16; off > 0; off /= 2) den += __shfl_xor_sync(0xffffffffu, den, off);
  __syncwarp();
  const float inv = den > 0.f ? 1.f / den : 0.f;
  const int D = p.head_dim;
  T* o = out + (static_cast<int64_t>(q0 + qi) * p.heads + head) * D;
  for (int d = lane; d < D; d += 32) {
    float a = 0.f;
    for (int z = 0; z < ns; ++z) a = fmaf(w[z], ws_acc[(pidx0 + z) * D + d], a);
    o[d] = from_float<T>(a * inv);
  }
}

}  // namespace kiln::ops::cuda::attn
