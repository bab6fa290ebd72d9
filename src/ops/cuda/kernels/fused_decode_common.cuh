// Layout of the persistent fused decode kernel (fused_decode.cuh): its constants and launch
// parameters, the op schedule the producer and the consumers both walk, the shared-memory carve
// and the consumers' reductions and grid barrier.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/cuda/fused_decode.h"
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

__host__ __device__ constexpr int fd_round128(int bytes) { return (bytes + 127) / 128 * 128; }
// Bytes of the staged input rows: n rows of up to kmax 16-bit elements.
__host__ __device__ constexpr int fd_x_bytes(int n, int kmax) { return fd_round128(n * kmax * 2); }
// The fp32 scratch after them (FdSmem: red, stat, rowstat, sQ, sP, sRed, scratch), head_dim D.
__host__ __device__ constexpr int fd_floats(int D) {
  return kFdConsumerWarps * kFdRows * 8 + kFdConsumerWarps * 8 * 2 + 16 + D + 256 +
         kFdConsumers * 8 + 8;
}

// Dynamic shared memory bytes for `slots` ring slots (each with its full / empty mbarriers), n
// rows of up to kmax inputs, head_dim D: the layout fd_carve cuts.
__host__ __device__ constexpr int fd_smem_bytes(int slots, int n, int kmax, int D) {
  return slots * (kFdSlotBytes + 2 * 8) + fd_x_bytes(n, kmax) + fd_round128(fd_floats(D) * 4);
}

template <class T>
__device__ __forceinline__ FdSmem<T> fd_carve(unsigned char* base, const FusedParams& p) {
  FdSmem<T> s;
  s.ring = base;
  unsigned char* q = base + p.ring_slots * kFdSlotBytes;
  s.xs = reinterpret_cast<T*>(q);
  q += fd_x_bytes(p.a.n, max(p.a.hidden, p.a.inner));
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
  q += fd_round128(fd_floats(p.a.head_dim) * 4);
  s.full = reinterpret_cast<uint64_t*>(q);
  s.empty = s.full + p.ring_slots;
  return s;
}

__device__ __forceinline__ void fd_stamp(const FusedParams& p, int l, int op, int which) {
  if (p.a.trace)
    p.a.trace[((static_cast<int64_t>(l) * kNumOps + op) * gridDim.x + blockIdx.x) * 4 + which] =
        detail::gemv_globaltimer();
}
// The same for the op before (l, op) (l > 0 or op > 0).
__device__ __forceinline__ void fd_stamp_previous(const FusedParams& p, int l, int op, int which) {
  fd_stamp(p, op == 0 ? l - 1 : l, op == 0 ? kNumOps - 1 : op - 1, which);
}

// ---- consumer helpers -------------------------------------------------------------------------
// Max (kMax) or sum over the consumer threads, result in each (common.cuh's block_max / block_sum
// over the named barrier of the consumers only: the producer warp never joins).
template <bool kMax>
__device__ __forceinline__ float fd_reduce(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = kMax ? detail::warp_max(v) : detail::warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  detail::named_sync(kFdBar, kFdConsumers);
  float r = scratch[0];
#pragma unroll
  for (int i = 1; i < kFdConsumerWarps; ++i) r = kMax ? fmaxf(r, scratch[i]) : r + scratch[i];
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

}  // namespace kiln::ops::cuda::fused
