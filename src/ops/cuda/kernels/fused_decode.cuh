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

#include "ops/cuda/kernels/fused_decode_attend.cuh"
#include "ops/cuda/kernels/fused_decode_common.cuh"

namespace kiln::ops::cuda::fused {

using detail::from_float;
using detail::to_float;

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
        if (lane == 0 && (l > 0 || op > 0)) fd_stamp_previous(p, l, op, 3);
      });
  if (lane == 0) fd_stamp(p, p.a.layers - 1, kNumOps - 1, 3);
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
          if (threadIdx.x == 0) fd_stamp_previous(p, l, op, 2);
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
