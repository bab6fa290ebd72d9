// Decode-batch GEMV on the tensor cores: out [n, m] = x [n, k] · w [m, k]ᵀ (+ bias) (then GELU
// tanh) for n <= 8, 16-bit inputs, fp32 accumulation. Memory-bound: the whole point is to stream
// W (m·k·2 bytes) at HBM bandwidth, so the arithmetic is shaped around the loads.
//
// Layout. One CTA owns a tile of 16 consecutive W rows and all k; its nw warps split k: warp w
// takes k-steps s = w, w + nw, ... of 64 elements each. Per k-step a lane (g = lane / 4,
// q = lane % 4) loads, with 16-byte ld.global.nc, W rows r0+g and r0+g+8 and x row g (the batch
// row; rows >= n are clamped, their output columns are never stored) at physical k offsets
// s·64 + 32j + 8q (j = 0, 1): each load instruction reads 64 contiguous bytes of each of 8 rows
// (full 32-byte sectors). Those registers are fed unchanged to mma.m16n8k16 (A = the 16 W rows,
// B = xᵀ, 8 columns): a dot product may permute k, and this mapping assigns the mma's logical
// k {2q, 2q+1, 2q+8, 2q+9} to physical k 8q + {0, 1, 2, 3} (then 8q + {4..7} for the second
// mma of the 16-byte vector) the same way for A and B, so no shuffles or conversions are needed.
// The tensor core does the 16×8 fp32 accumulation: the CUDA-core cost per 16 bytes of W is one
// mma issue, independent of n (an FMA loop would need 8·n FMAs + conversions per 16 bytes).
//
// x is not staged in shared memory: with k split across the CTA's warps every x element is read
// exactly once per CTA, so staging would only add a copy; x loads go through L1 (allocated; the
// other CTAs resident on the SM read the same x), W loads bypass L1 (L1::no_allocate) with a
// 256-byte L2 prefetch hint. U k-steps are loaded before the first mma of a batch (U·4 W loads +
// U·2 x loads of 16 bytes per lane in flight).
//
// Epilogue: each warp's 16×8 fp32 partial goes to shared memory, the CTA sums the nw partials,
// adds bias, applies GELU, rounds once and stores out[col·m + row] for row < m, col < n.
//
// Requirements (checked by the launcher): k % 8 == 0, x and w 16-byte aligned (so every W row and
// x row start is), x and w not written while the kernel runs (non-coherent loads).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::detail {

constexpr int kGemvMaxN = 8;
constexpr int kGemvRows = 16;      // W rows per CTA (mma M)
constexpr int kGemvStep = 64;      // k elements per warp k-step
constexpr int kGemvMaxWarps = 16;  // CTA size cap (512 threads)
constexpr int kGemvUnroll = 4;     // k-steps loaded before the first mma of a batch

// 16-byte streaming load of W: non-coherent, no L1 allocation, 256-byte L2 prefetch.
__device__ __forceinline__ uint4 gemv_ld_w(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// 16-byte load of x: non-coherent, L1-allocated (shared by the CTAs on the SM).
__device__ __forceinline__ uint4 gemv_ld_x(const void* p) {
  uint4 v;
  asm("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// d (16×8 fp32) += a (16×16, row) · b (16×8, col).
template <class T>
__device__ __forceinline__ void gemv_mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                         uint32_t a3, uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "gemv: 16-bit inputs only");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ float gemv_gelu_tanh(float v) {
  return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

// Epilogue kGemvAddNorm: residual += round(x·Wᵀ + bias) (two roundings, as linear then add),
// then normed = LayerNorm(residual) computed by the grid's last CTA to finish (an arrival
// counter, zero on entry and left zero: threadFenceReduction's pattern), which reads the n
// residual rows back from L2 — the LayerNorm costs no launch of its own. With ln_w null, the add
// alone (for a next GEMV that folds the LayerNorm, kGemvLnFold).
constexpr int kGemvAddNorm = 3;
// Epilogues kGemvLnFold (+ bias) and kGemvLnFoldGelu (+ bias, then GELU): out = LayerNorm(x)·Wᵀ
// + b with the LayerNorm's affine folded into the weights (w = W·diag(γ), bias = W·β + b,
// rowsum[r] = Σ_k w[r][k] in fp32): out = inv·(x·wᵀ) − inv·mean·rowsum + bias, where mean and
// inv = 1/sqrt(var + eps) of each x row come from the x values the CTA loads anyway (lanes
// g < n sum them and their squares; var = E[x²] − mean², fp32) — no LayerNorm pass before.
constexpr int kGemvLnFold = 4;
constexpr int kGemvLnFoldGelu = 5;
template <class T>
struct GemvNorm {
  T* residual = nullptr;    // [n, m]
  const T* ln_w = nullptr;  // [m]
  const T* ln_b = nullptr;  // [m] or null
  float eps = 0.f;
  T* normed = nullptr;  // [n, m]
  unsigned* counter = nullptr;
  const float* rowsum = nullptr;  // [m], kGemvLnFold*
};

// The last CTA's LayerNorm of the n residual rows, the whole CTA on each row with the row held in
// registers (16-byte packs, up to kGemvNormPacks per thread): one round of L2 loads per row, then
// fp32 two-pass statistics over the stored (rounded) values, as layer_norm.cu's add_layer_norm.
// Requires m % 8 == 0, m / 8 <= kGemvNormPacks · blockDim.x and 16-byte aligned residual, normed,
// ln_w, ln_b (the launcher checks). Every thread calls it.
constexpr int kGemvNormPacks = 4;
template <class T>
__device__ void gemv_norm_tail(const GemvNorm<T>& p, int n, int m) {
  __shared__ bool last;
  __threadfence();  // this CTA's residual rows are visible device-wide
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(p.counter, 1u) == gridDim.x - 1;
    if (last) *p.counter = 0u;  // every other CTA has arrived: ready for the next launch
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  constexpr int V = 8;  // 16-bit elements per pack
  const int packs = m / V;
  const int nt = static_cast<int>(blockDim.x);
  for (int c = 0; c < n; ++c) {
    const uint4* h = reinterpret_cast<const uint4*>(p.residual + static_cast<int64_t>(c) * m);
    float v[kGemvNormPacks][V];
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kGemvNormPacks; ++i) {
      const int pk = static_cast<int>(threadIdx.x) + i * nt;
      if (pk < packs) {
        const uint4 u = __ldcg(h + pk);  // from L2: other CTAs wrote it during this grid
        const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          v[i][j] = to_float(e[j]);
          s += v[i][j];
        }
      }
    }
    const float mean = block_sum(s) / static_cast<float>(m);
    float sq = 0.f;
#pragma unroll
    for (int i = 0; i < kGemvNormPacks; ++i) {
      if (static_cast<int>(threadIdx.x) + i * nt < packs) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float d = v[i][j] - mean;
          sq += d * d;
        }
      }
    }
    const float inv = 1.f / sqrtf(block_sum(sq) / static_cast<float>(m) + p.eps);
    T* o = p.normed + static_cast<int64_t>(c) * m;
#pragma unroll
    for (int i = 0; i < kGemvNormPacks; ++i) {
      const int pk = static_cast<int>(threadIdx.x) + i * nt;
      if (pk < packs) {
        const Pack<T, V> wp = load_pack<T, V>(p.ln_w + pk * V);
        Pack<T, V> bp;
        if (p.ln_b) bp = load_pack<T, V>(p.ln_b + pk * V);
        Pack<T, V> r;
#pragma unroll
        for (int j = 0; j < V; ++j)
          r.v[j] = from_float<T>((v[i][j] - mean) * inv * to_float(wp.v[j]) +
                                 (p.ln_b ? to_float(bp.v[j]) : 0.f));
        store_pack<T, V>(o + pk * V, r);
      }
    }
  }
}

// Diagnostics (trace != null): thread 0 of each CTA records [4·cta] entry time, [+1] SM id,
// [+2] when its PDL wait returned, [+3] exit time (global nanosecond timer, comparable across
// SMs). Null in production launches.
__device__ __forceinline__ unsigned long long gemv_globaltimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ void gemv_trace_start(unsigned long long* trace) {
  unsigned smid;
  asm volatile("mov.u32 %0, %smid;" : "=r"(smid));
  trace[blockIdx.x * 4 + 0] = gemv_globaltimer();
  trace[blockIdx.x * 4 + 1] = smid;
}

// grid.x = ceil(m / 16), blockDim.x = 32 · nw (nw <= 16). epilogue: 0 none, 1 bias, 2 bias+GELU,
// kGemvAddNorm (OutT == T, out unused, bias optional), kGemvLnFold / kGemvLnFoldGelu (norm.eps,
// norm.rowsum; bias optional).
// Fold: the kGemvLnFold* instantiation (row statistics gathered in the main loop).
template <class T, class OutT, bool Fold = false>
__global__ void __launch_bounds__(kGemvMaxWarps * 32, 1)
    gemv_kernel(OutT* __restrict__ out, const T* __restrict__ x, const T* __restrict__ w,
                const T* __restrict__ bias, int n, int m, int k, int epilogue, GemvNorm<T> norm,
                unsigned long long* trace) {
  __shared__ float partial[kGemvMaxWarps][kGemvRows][kGemvMaxN];
  __shared__ float stat[kGemvMaxWarps][kGemvMaxN][2];  // kGemvLnFold*: per warp Σx, Σx² per row

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nw = static_cast<int>(blockDim.x >> 5);
  const int g = lane >> 2, q = lane & 3;
  const int row0 = static_cast<int>(blockIdx.x) * kGemvRows;
  // Rows past m (last tile) and batch rows past n are clamped to valid ones: their results land
  // in accumulator rows / columns that are never stored.
  const T* wa = w + static_cast<int64_t>(min(row0 + g, m - 1)) * k;
  const T* wb = w + static_cast<int64_t>(min(row0 + g + 8, m - 1)) * k;
  const T* xr = x + static_cast<int64_t>(min(g, n - 1)) * k;
  const int nsteps = (k + kGemvStep - 1) / kGemvStep;

  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  constexpr bool fold = Fold;
  float sx = 0.f, sxx = 0.f;  // fold: this lane's share of Σx and Σx² of x row g
  bool waited = false;
  if (trace && threadIdx.x == 0) gemv_trace_start(trace);
  for (int s0 = warp; s0 < nsteps; s0 += kGemvUnroll * nw) {
    // Loads past k (a whole step past the end, warp-uniform, or the last step's tail) are
    // skipped and read as zero. ptxas keeps the batch's loads ahead of the mmas only with the
    // register room that __launch_bounds__(512, 1) grants (at the default occupancy target it
    // interleaved loads and mmas, a few loads in flight per lane).
    uint4 va[kGemvUnroll][2], vb[kGemvUnroll][2], vx[kGemvUnroll][2];
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int o = (s0 + u * nw) * kGemvStep + 32 * j + 8 * q;  // < 2^31: k < 2^31 - 128
        va[u][j] = vb[u][j] = make_uint4(0u, 0u, 0u, 0u);
        if (o < k) {
          va[u][j] = gemv_ld_w(wa + o);
          vb[u][j] = gemv_ld_w(wb + o);
        }
      }
    }
    // W is constant during the step: the first batch of it is in flight before x (written by
    // the previous kernel) may be read (PDL, ops/cuda/launch.h).
    if (!waited) {
      pdl_enter();
      waited = true;
      if (trace && threadIdx.x == 0) trace[blockIdx.x * 4 + 2] = gemv_globaltimer();
    }
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int o = (s0 + u * nw) * kGemvStep + 32 * j + 8 * q;
        vx[u][j] = o < k ? gemv_ld_x(xr + o) : make_uint4(0u, 0u, 0u, 0u);
      }
    }
    if (fold && g < n) {  // each x element of row g is loaded by exactly one of these lanes
#pragma unroll
      for (int u = 0; u < kGemvUnroll; ++u)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const T* e = reinterpret_cast<const T*>(&vx[u][j]);
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            const float f = to_float(e[i]);
            sx += f;
            sxx += f * f;
          }
        }
    }
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const uint4 a = va[u][j], b = vb[u][j], xv = vx[u][j];
        gemv_mma<T>(acc, a.x, b.x, a.y, b.y, xv.x, xv.y);
        gemv_mma<T>(acc, a.z, b.z, a.w, b.w, xv.z, xv.w);
      }
    }
  }

  if (!waited) pdl_enter();  // warps without k-steps: before the epilogue writes out
  // acc: [0], [1] = C[g][2q], C[g][2q+1]; [2], [3] = C[g+8][2q], C[g+8][2q+1].
  partial[warp][g][2 * q] = acc[0];
  partial[warp][g][2 * q + 1] = acc[1];
  partial[warp][g + 8][2 * q] = acc[2];
  partial[warp][g + 8][2 * q + 1] = acc[3];
  if constexpr (fold) {  // the four q lanes of a row group hold disjoint parts of row g's sums
    sx += __shfl_xor_sync(0xffffffffu, sx, 1);
    sx += __shfl_xor_sync(0xffffffffu, sx, 2);
    sxx += __shfl_xor_sync(0xffffffffu, sxx, 1);
    sxx += __shfl_xor_sync(0xffffffffu, sxx, 2);
    if (q == 0) stat[warp][g][0] = sx, stat[warp][g][1] = sxx;
  }
  __syncthreads();
  for (int t = threadIdx.x; t < kGemvRows * kGemvMaxN; t += blockDim.x) {
    const int r = t & (kGemvRows - 1), c = t >> 4;  // consecutive threads: consecutive rows
    const int row = row0 + r;
    if (row < m && c < n) {
      float v = 0.f;
      for (int i = 0; i < nw; ++i) v += partial[i][r][c];
      if constexpr (fold) {
        float s1 = 0.f, s2 = 0.f;
        for (int i = 0; i < nw; ++i) s1 += stat[i][c][0], s2 += stat[i][c][1];
        const float mean = s1 / static_cast<float>(k);
        const float var = fmaxf(s2 / static_cast<float>(k) - mean * mean, 0.f);
        const float inv = rsqrtf(var + norm.eps);
        v = inv * v - inv * mean * norm.rowsum[row];
      }
      if (epilogue != 0 && bias) v += to_float(bias[row]);
      if (epilogue == 2 || epilogue == kGemvLnFoldGelu) v = gemv_gelu_tanh(v);
      if (epilogue == kGemvAddNorm) {
        if constexpr (std::is_same_v<OutT, T>) {
          T* r = norm.residual + static_cast<int64_t>(c) * m + row;
          *r = from_float<T>(to_float(*r) + to_float(from_float<T>(v)));
        }
        continue;
      }
      out[static_cast<int64_t>(c) * m + row] = from_float<OutT>(v);
    }
  }
  if (epilogue == kGemvAddNorm && norm.ln_w) gemv_norm_tail<T>(norm, n, m);  // else: add only
  if (trace && threadIdx.x == 0) trace[blockIdx.x * 4 + 3] = gemv_globaltimer();
}

}  // namespace kiln::ops::cuda::detail
