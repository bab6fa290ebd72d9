// Persistent fused decode kernel: all layers of a GPT-2-architecture decode step (n <= 8 tokens,
// one per sequence) in one cooperative launch, one CTA per SM.
//
// Why: at batch 1 a decode step is ~5 GEMVs per layer whose weights must stream at HBM
// bandwidth, but every kernel boundary (or grid barrier) stops the stream for ~1.3 µs while the
// dependency resolves (docs/design.md "What does not shorten the batch-1 decode chain"). Weights
// do not depend on anything, so here a producer warp per CTA streams this CTA's share of every
// op's weights, op after op and layer after layer, into a ring of shared-memory slots with bulk
// async copies (cp.async.bulk + mbarriers) — it never waits for the data dependencies, only for a
// free slot — while the 8 consumer warps follow the dependency chain with grid barriers:
//   per layer: QKV (LayerNorm folded) | attention | out-proj (+= residual) | fc1 (folded, GELU)
//              | fc2 (+= residual), a grid barrier after each.
// During a barrier the ring keeps filling (up to ~190 KB per SM, several µs of HBM time), so the
// barrier costs consumer time, not bandwidth.
//
// GEMV tiles: 16 weight rows × all k, assigned round-robin over the CTAs with a cursor that
// continues from op to op (so the CTAs left without a tile in a small op start the next one).
// A tile streams in chunks of kFdChunk k-elements: one ring slot holds 16 rows × the chunk (row
// pitch padded by 64 bytes: the mma fragment reads of two rows fall in different banks), filled
// by 16 bulk copies (one per row, lanes 0-15 of the producer warp). Consumer warp w takes k-steps
// (64 elements) w, w + 8, ... of a chunk: mma.m16n8k16 with the 16 rows as A and the staged
// input rows as B, as gemv.cuh (same fragment mapping), then the 8 warps' partials are summed
// in shared memory and the epilogue (folded LayerNorm, bias, GELU, residual add) stores them.
// The input rows of an op (n × k) are staged into shared memory once per op per CTA, read from
// L2 (__ldcg: other CTAs wrote them in this launch), with the folded LayerNorm's statistics.
//
// Attention: one (sequence, head) per CTA at a time (the 256 consumer threads, one key per thread
// in chunks of 256, online softmax), storing the step's K/V row into the paged pools and reading
// that key from the qkv rows (as the decode-row kernel's APPEND mode).
//
// Barrier state: counters[0] counts grid-barrier arrivals (barrier b completes at (b + 1) · grid
// arrivals), counters[1] the CTAs done; the last CTA done zeroes both (ExecContext::counters'
// contract). Co-residency of the grid is the cooperative launch's guarantee.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/fused_decode.h"
#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/gemv.cuh"
#include "ops/cuda/kernels/sync.cuh"

namespace kiln::ops::cuda::fused {

using detail::from_float;
using detail::to_float;

constexpr int kFdConsumerWarps = 8;
constexpr int kFdConsumers = kFdConsumerWarps * 32;  // 256
constexpr int kFdThreads = kFdConsumers + 32;        // + the producer warp
constexpr int kFdChunk = 512;                        // k elements per ring slot
constexpr int kFdRows = 16;                          // weight rows per tile
constexpr int kFdPitch = kFdChunk * 2 + 64;          // bytes per row in a slot (16-bit T)
constexpr int kFdSlotBytes = kFdRows * kFdPitch;     // 17,408
constexpr unsigned kFdBar = 1;                       // named barrier of the consumers

struct FusedParams {
  FusedDecodeArgs a;
  int ring_slots;  // slots of kFdSlotBytes in the ring
  int fence_all;   // every consumer thread fences before a grid barrier (else thread 0 only)
  FusedDecodeLayer layer[kFusedDecodeMaxLayers];
};

enum FdOp { kQkv = 0, kAttn = 1, kOut = 2, kFc1 = 3, kFc2 = 4, kNumOps = 5 };

// The weights of GEMV op `op` of a layer: w [m, k].
struct FdGemv {
  const void* w;
  int m, k;
};
__device__ __forceinline__ FdGemv fd_gemv(const FusedParams& p, int l, int op) {
  const FusedDecodeLayer& L = p.layer[l];
  const int E = p.a.hidden, I = p.a.inner;
  switch (op) {
    case kQkv:
      return {L.qkv_w, 3 * E, E};
    case kOut:
      return {L.out_w, E, E};
    case kFc1:
      return {L.fc_w, I, E};
    default:
      return {L.proj_w, E, I};
  }
}

// Walks this CTA's GEMV tiles in the order both the producer and the consumers use:
// fn(layer, op, tile) for every tile of GEMV ops, at(layer, op) before each op (the consumers'
// op boundaries; attention ops included).
template <class Tile, class At>
__device__ __forceinline__ void fd_schedule(const FusedParams& p, Tile&& fn, At&& at) {
  const int G = static_cast<int>(gridDim.x), c = static_cast<int>(blockIdx.x);
  int cursor = 0;
  for (int l = 0; l < p.a.layers; ++l) {
    for (int op = 0; op < kNumOps; ++op) {
      at(l, op);
      if (op == kAttn) continue;
      const int tiles = fd_gemv(p, l, op).m / kFdRows;
      for (int t = ((c - cursor) % G + G) % G; t < tiles; t += G) fn(l, op, t);
      cursor = (cursor + tiles) % G;
    }
  }
}

// Ring position: slot index and the parity of its current use.
struct RingPos {
  int slot = 0;
  unsigned phase = 0;
  __device__ __forceinline__ void next(int slots) {
    if (++slot == slots) slot = 0, phase ^= 1u;
  }
};

template <class T>
struct FdSmem {
  unsigned char* ring;  // [slots][16][kFdPitch]
  T* xs;                // [n][k] staged input rows
  float* red;           // [8 warps][16][8] tile partials
  float* stat;          // [8 warps][8 rows][2] folded LayerNorm partial sums
  float* rowstat;       // [8 rows][2] mean, 1/std
  float* sQ;            // [D] attention: q · scale · log2 e
  float* sP;            // [256] probabilities
  float* sRed;          // [256 * VEC] P·V slices
  float* scratch;       // [8] reductions
  uint64_t* full;       // [slots]
  uint64_t* empty;      // [slots]
};

// Dynamic shared memory bytes for `slots` ring slots, n rows of up to kmax inputs, head_dim D.
__host__ __device__ inline int fd_smem_bytes(int slots, int n, int kmax, int D) {
  const int x = ((n * kmax * 2 + 127) / 128) * 128;
  const int floats = kFdConsumerWarps * kFdRows * 8 + kFdConsumerWarps * 8 * 2 + 16 + D + 256 +
                     kFdConsumers * 8 + 8;
  return slots * kFdSlotBytes + x + ((floats * 4 + 127) / 128) * 128 + 2 * slots * 8;
}

template <class T>
__device__ __forceinline__ FdSmem<T> fd_carve(unsigned char* base, const FusedParams& p) {
  FdSmem<T> s;
  const int kmax = max(p.a.hidden, p.a.inner);
  s.ring = base;
  unsigned char* q = base + p.ring_slots * kFdSlotBytes;
  s.xs = reinterpret_cast<T*>(q);
  q += ((p.a.n * kmax * 2 + 127) / 128) * 128;
  float* f = reinterpret_cast<float*>(q);
  s.red = f;
  f += kFdConsumerWarps * kFdRows * 8;
  s.stat = f;
  f += kFdConsumerWarps * 8 * 2;
  s.rowstat = f;
  f += 16;
  s.sQ = f;
  f += p.a.head_dim;
  s.sP = f;
  f += 256;
  s.sRed = f;
  f += kFdConsumers * 8;
  s.scratch = f;
  f += 8;
  const int fl = kFdConsumerWarps * kFdRows * 8 + kFdConsumerWarps * 8 * 2 + 16 + p.a.head_dim +
                 256 + kFdConsumers * 8 + 8;
  q = reinterpret_cast<unsigned char*>(s.red) + ((fl * 4 + 127) / 128) * 128;
  s.full = reinterpret_cast<uint64_t*>(q);
  s.empty = s.full + p.ring_slots;
  return s;
}

__device__ __forceinline__ void fd_stamp(const FusedParams& p, int l, int op, int which) {
  if (p.a.trace)
    p.a.trace[((static_cast<int64_t>(l) * kNumOps + op) * gridDim.x + blockIdx.x) * 4 + which] =
        detail::gemv_globaltimer();
}

// ---- producer -------------------------------------------------------------------------------
template <class T>
__device__ void fd_produce(const FusedParams& p, const FdSmem<T>& sm) {
  const int lane = threadIdx.x & 31;
  RingPos pos;
  fd_schedule(
      p,
      [&](int l, int op, int t) {
        const FdGemv g = fd_gemv(p, l, op);
        const T* w = static_cast<const T*>(g.w) + static_cast<int64_t>(t) * kFdRows * g.k;
        for (int k0 = 0; k0 < g.k; k0 += kFdChunk) {
          const int len = min(kFdChunk, g.k - k0);
          detail::mbar_wait(&sm.empty[pos.slot], pos.phase ^ 1u);
          if (lane == 0) detail::mbar_arrive_expect_tx(&sm.full[pos.slot], kFdRows * len * 2);
          __syncwarp();
          if (lane < kFdRows)
            detail::bulk_copy_g2s(sm.ring + pos.slot * kFdSlotBytes + lane * kFdPitch,
                                  w + static_cast<int64_t>(lane) * g.k + k0, len * 2,
                                  &sm.full[pos.slot]);
          pos.next(p.ring_slots);
        }
      },
      [&](int l, int op) {
        if (lane == 0 && (l > 0 || op > 0))
          fd_stamp(p, op == 0 ? l - 1 : l, op == 0 ? 4 : op - 1, 3);
      });
  if (lane == 0) fd_stamp(p, p.a.layers - 1, kNumOps - 1, 3);
}

// ---- consumer helpers -------------------------------------------------------------------------
__device__ __forceinline__ float fd_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = detail::warp_max(v);
  if (lane == 0) scratch[warp] = v;
  detail::named_sync(kFdBar, kFdConsumers);
  float r = scratch[0];
#pragma unroll
  for (int i = 1; i < kFdConsumerWarps; ++i) r = fmaxf(r, scratch[i]);
  detail::named_sync(kFdBar, kFdConsumers);
  return r;
}

__device__ __forceinline__ float fd_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = detail::warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  detail::named_sync(kFdBar, kFdConsumers);
  float r = 0.f;
#pragma unroll
  for (int i = 0; i < kFdConsumerWarps; ++i) r += scratch[i];
  detail::named_sync(kFdBar, kFdConsumers);
  return r;
}

// Grid barrier of the consumers (every consumer thread calls it): writes fenced, one arrival per
// CTA, then everyone proceeds once all CTAs have arrived.
__device__ __forceinline__ void fd_grid_sync(unsigned* ctr, unsigned& barriers, bool fence_all) {
  if (fence_all) __threadfence();
  detail::named_sync(kFdBar, kFdConsumers);
  ++barriers;
  if (threadIdx.x == 0) {
    if (!fence_all) __threadfence();  // cumulative: the CTA's writes ordered before by bar.sync
    detail::grid_arrive_wait(ctr, barriers * gridDim.x);
  }
  detail::named_sync(kFdBar, kFdConsumers);
}

// Stages rows [n][k] of src (written earlier in this launch: L2 loads) into xs; with `stats`,
// rowstat[c] = (mean, 1/sqrt(var + eps)) of each row (fp32, var = E[x²] − mean², the folded
// GEMV's statistics), summed in a fixed order.
template <class T>
__device__ void fd_stage(const FdSmem<T>& sm, const T* src, int n, int k, bool stats, float eps) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int packs = k / 8;
  for (int c = 0; c < n; ++c) {
    const uint4* s4 = reinterpret_cast<const uint4*>(src + static_cast<int64_t>(c) * k);
    uint4* d4 = reinterpret_cast<uint4*>(sm.xs + static_cast<int64_t>(c) * k);
    float s = 0.f, ss = 0.f;
#pragma unroll 4
    for (int i = tid; i < packs; i += kFdConsumers) {
      const uint4 u = __ldcg(s4 + i);
      d4[i] = u;
      if (stats) {
        const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float f = to_float(e[j]);
          s += f;
          ss += f * f;
        }
      }
    }
    if (stats) {
      s = detail::warp_sum(s);
      ss = detail::warp_sum(ss);
      if (lane == 0) sm.stat[(warp * 8 + c) * 2] = s, sm.stat[(warp * 8 + c) * 2 + 1] = ss;
    }
  }
  detail::named_sync(kFdBar, kFdConsumers);
  if (stats && tid < n) {
    float s1 = 0.f, s2 = 0.f;
    for (int w = 0; w < kFdConsumerWarps; ++w)
      s1 += sm.stat[(w * 8 + tid) * 2], s2 += sm.stat[(w * 8 + tid) * 2 + 1];
    const float mean = s1 / static_cast<float>(k);
    const float var = fmaxf(s2 / static_cast<float>(k) - mean * mean, 0.f);
    sm.rowstat[tid * 2] = mean;
    sm.rowstat[tid * 2 + 1] = rsqrtf(var + eps);
  }
  detail::named_sync(kFdBar, kFdConsumers);
}

// One 16-row tile of GEMV op `op`: accumulate over the ring's chunks, then the epilogue.
template <class T>
__device__ void fd_tile(const FusedParams& p, const FdSmem<T>& sm, RingPos& pos, int l, int op,
                        int t) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, q = lane & 3;
  const int n = p.a.n;
  const FdGemv gm = fd_gemv(p, l, op);
  const T* xr = sm.xs + static_cast<int64_t>(min(g, n - 1)) * gm.k;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int k0 = 0; k0 < gm.k; k0 += kFdChunk) {
    const int steps = min(kFdChunk, gm.k - k0) / detail::kGemvStep;
    detail::mbar_wait(&sm.full[pos.slot], pos.phase);
    const unsigned char* slot = sm.ring + pos.slot * kFdSlotBytes;
    for (int s = warp; s < steps; s += kFdConsumerWarps) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int o = s * detail::kGemvStep + 32 * j + 8 * q;  // within the chunk
        const uint4 a = *reinterpret_cast<const uint4*>(slot + g * kFdPitch + o * 2);
        const uint4 b = *reinterpret_cast<const uint4*>(slot + (g + 8) * kFdPitch + o * 2);
        const uint4 xv = *reinterpret_cast<const uint4*>(xr + k0 + o);
        detail::gemv_mma<T>(acc, a.x, b.x, a.y, b.y, xv.x, xv.y);
        detail::gemv_mma<T>(acc, a.z, b.z, a.w, b.w, xv.z, xv.w);
      }
    }
    __syncwarp();
    if (lane == 0) detail::mbar_arrive(&sm.empty[pos.slot]);
    pos.next(p.ring_slots);
  }
  // acc: [0], [1] = C[g][2q], C[g][2q+1]; [2], [3] = C[g+8][2q], C[g+8][2q+1].
  float* red = sm.red + warp * kFdRows * 8;
  red[g * 8 + 2 * q] = acc[0];
  red[g * 8 + 2 * q + 1] = acc[1];
  red[(g + 8) * 8 + 2 * q] = acc[2];
  red[(g + 8) * 8 + 2 * q + 1] = acc[3];
  detail::named_sync(kFdBar, kFdConsumers);
  const FusedDecodeLayer& L = p.layer[l];
  if (tid < kFdRows * n) {
    const int r = tid & (kFdRows - 1), c = tid >> 4;
    const int row = t * kFdRows + r;
    float v = 0.f;
    for (int w = 0; w < kFdConsumerWarps; ++w) v += sm.red[(w * kFdRows + r) * 8 + c];
    const T* bias = static_cast<const T*>(op == kQkv   ? L.qkv_b
                                          : op == kOut ? L.out_b
                                          : op == kFc1 ? L.fc_b
                                                       : L.proj_b);
    if (op == kQkv || op == kFc1) {
      const float mean = sm.rowstat[c * 2], inv = sm.rowstat[c * 2 + 1];
      const float* rowsum = op == kQkv ? L.qkv_rowsum : L.fc_rowsum;
      v = inv * v - inv * mean * rowsum[row];
      if (bias) v += to_float(bias[row]);
      T* out = static_cast<T*>(p.a.qkv);
      const int width = op == kQkv ? 3 * p.a.hidden : p.a.inner;
      if (op == kFc1) v = detail::gemv_gelu_tanh(v);
      out[static_cast<int64_t>(c) * width + row] = from_float<T>(v);
    } else {  // residual += round(x·Wᵀ + b): two roundings, as linear then add
      if (bias) v += to_float(bias[row]);
      T* h = static_cast<T*>(p.a.h) + static_cast<int64_t>(c) * p.a.hidden + row;
      *h = from_float<T>(to_float(__ldcg(h)) + to_float(from_float<T>(v)));  // L2: other CTAs'
    }
  }
  detail::named_sync(kFdBar, kFdConsumers);  // red is rewritten by the next tile
}

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
      const int64_t dst =
          ((static_cast<int64_t>(slot / a.block_size) * a.heads + head) * a.block_size +
           slot % a.block_size) *
          D;
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
        const T* kr = kp + attn::pool_row(table, key, head, a.heads, a.block_size, D);
        uint4 kv[16];
#pragma unroll
        for (int u = 0; u < 16; ++u)
          if (u < NCH) kv[u] = __ldg(reinterpret_cast<const uint4*>(kr + u * VEC));
#pragma unroll
        for (int u = 0; u < 16; ++u)
          if (u < NCH)
            acc_s = attn::dot16<T>(reinterpret_cast<const T*>(&kv[u]), sm.sQ + u * VEC, acc_s);
      }
      sc = acc_s;
    }
    const float m_new = fmaxf(m_run, fd_max(sc, sm.scratch));
    const float m_use = m_new == attn::kNegInf ? 0.f : m_new;
    const float pj = tid < nk ? exp2f(sc - m_use) : 0.f;
    sm.sP[tid] = pj;
    const float alpha = exp2f(m_run - m_use);
    l_run = l_run * alpha + fd_sum(pj, sm.scratch);  // its barriers publish sP
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

template <class T>
__device__ void fd_consume(const FusedParams& p, const FdSmem<T>& sm) {
  const FusedDecodeArgs& a = p.a;
  const int G = static_cast<int>(gridDim.x), c = static_cast<int>(blockIdx.x);
  RingPos pos;
  unsigned barriers = 0;
  int staged_op = -1, staged_layer = -1;
  fd_schedule(
      p,
      [&](int l, int op, int t) {
        if (staged_op != op || staged_layer != l) {  // the op's first tile here: stage its input
          const FdGemv g = fd_gemv(p, l, op);
          const T* src = static_cast<const T*>(op == kOut ? a.attn : op == kFc2 ? a.qkv : a.h);
          fd_stage<T>(sm, src, a.n, g.k, op == kQkv || op == kFc1, a.eps);
          staged_op = op, staged_layer = l;
          if (threadIdx.x == 0) fd_stamp(p, l, op, 1);
        }
        fd_tile<T>(p, sm, pos, l, op, t);
      },
      [&](int l, int op) {
        if (l > 0 || op > 0) {  // the previous op is done
          if (threadIdx.x == 0) fd_stamp(p, op == 0 ? l - 1 : l, op == 0 ? 4 : op - 1, 2);
          fd_grid_sync(a.counters, barriers, p.fence_all != 0);
        }
        if (threadIdx.x == 0) fd_stamp(p, l, op, 0), fd_stamp(p, l, op, 1);
        if (op == kAttn) {
          for (int item = c; item < a.n * a.heads; item += G)
            fd_attend<T>(p, sm, l, item / a.heads, item % a.heads);
        }
      });
  if (threadIdx.x == 0) fd_stamp(p, a.layers - 1, kNumOps - 1, 2);
}

template <class T>
__global__ void __launch_bounds__(kFdThreads, 1)
    fused_gpt_decode_kernel(const __grid_constant__ FusedParams p) {
  extern __shared__ __align__(128) unsigned char fd_smem[];
  const FdSmem<T> sm = fd_carve<T>(fd_smem, p);
  if (threadIdx.x == 0) {
    for (int i = 0; i < p.ring_slots; ++i) {
      detail::mbar_init(&sm.full[i], 1);
      detail::mbar_init(&sm.empty[i], kFdConsumerWarps);
    }
    detail::mbar_init_fence();
  }
  __syncthreads();
  if (threadIdx.x >= kFdConsumers) {  // the producer warp
    fd_produce<T>(p, sm);
    return;
  }
  fd_consume<T>(p, sm);
  // Done: the last CTA out leaves the counters zero (every CTA has passed every barrier).
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(p.a.counters + 1, 1u) == gridDim.x - 1) {
      p.a.counters[0] = 0u;
      p.a.counters[1] = 0u;
    }
  }
}

}  // namespace kiln::ops::cuda::fused
