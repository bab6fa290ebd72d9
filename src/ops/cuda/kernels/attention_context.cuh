// Paged attention, context path (fp16/bf16): flash-attention-2 on tensor cores. A CTA of 4 warps
// owns a tile of 64 query rows of one sequence and one head (16 rows per warp); K/V tiles of 64
// keys are gathered from the paged pools with 16-byte cp.async into padded shared memory (row
// stride DP + 8 elements: ldmatrix rows fall in distinct banks). S = Q·Kᵀ and O += P·V use
// mma.sync m16n8k16 with fp32 accumulators; the online softmax runs on the S fragments in
// registers (exp2 domain). K(t+1) loads overlap P·V(t), V(t) loads overlap Q·K(t)ᵀ. Key tiles
// past the tile's last row position are never visited; only tiles crossing the diagonal are
// masked, relative to each row's absolute position seq_kv_len - q_len + i. Not causal: every row
// sees all seq_kv_len keys (only the last, partial key tile is masked). BIAS: the relative
// position bias (T5) is added to the scores in registers, read through the read-only cache.
// DP (64/128/256) is the head_dim bucket: dims in [head_dim, DP) are zero-filled and skipped.
// Address work is kept off the per-chunk path (the kernel was issue-bound on it: one integer
// division and block-table load per 16-byte chunk): each key's pool offset is computed once per
// tile into shared memory and serves both its K and V loads.
#pragma once

#include "ops/cuda/kernels/attention_common.cuh"
#include "ops/cuda/kernels/pdl.cuh"

namespace kiln::ops::cuda::attn {

constexpr int kCtxThreads = 128, kCtxBQ = 64, kCtxBK = 64;

struct ContextParams {
  int heads, kv_heads, group, head_dim, block_size, max_blocks;
  int qtiles;     // 64-row query tiles per sequence (grid = heads × num_seqs × qtiles)
  int bs_shift;   // log2(block_size) when it is a power of two, else -1
  int skip_q_le;  // sequences with q_len <= skip_q_le are left to the decode kernel
  float scale_log2;
  int causal;         // 0: no causal mask
  const float* bias;  // [heads, 2 * bias_radius + 1] fp32; read only when BIAS
  int bias_radius;
};

template <int DP>
constexpr int context_smem_bytes() {
  return 3 * 64 * (DP + 8) * 2;
}

template <class T, int DP, bool BIAS>
__global__ void __launch_bounds__(kCtxThreads)
    paged_attention_context_kernel(T* __restrict__ out,      // [n, heads * d]
                                   const T* __restrict__ q,  // [n, q_stride] rows
                                   int64_t q_stride,
                                   const T* __restrict__ k_pool,  // [blocks, kv_heads, bs, d]
                                   const T* __restrict__ v_pool,  // [blocks, kv_heads, bs, d]
                                   const int32_t* __restrict__ block_tables,  // [seqs, max_blocks]
                                   const int32_t* __restrict__ cu_seqlens,    // [seqs + 1]
                                   const int32_t* __restrict__ seq_kv_len,    // [seqs]
                                   ContextParams p) {
  detail::pdl_enter();
  constexpr int BQ = kCtxBQ, BK = kCtxBK, DS = DP + 8, NCHP = DP / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);  // [BQ][DS]
  T* sK = sQ + BQ * DS;                // [BK][DS]
  T* sV = sK + BK * DS;                // [BK][DS]
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  // Launch order (x fastest): every head and sequence of the longest query tiles first, so the
  // short causal tiles fill the last wave.
  const int head = blockIdx.x;
  const int s = blockIdx.y;
  const int qt = p.qtiles - 1 - static_cast<int>(blockIdx.z);
  const int q0 = cu_seqlens[s], q_len = cu_seqlens[s + 1] - q0;
  if (q_len <= p.skip_q_le || qt * BQ >= q_len) return;
  const int kv_len = seq_kv_len[s], first_pos = kv_len - q_len;
  const int row0 = qt * BQ, rows = min(BQ, q_len - row0);
  // Exclusive end of the keys the tile's last row sees.
  const int kend = p.causal ? first_pos + row0 + rows : kv_len;
  const int nk = kend > 0 ? ceil_div(kend, BK) : 0;
  const int D = p.head_dim, nch = D / 8, kd = (D + 15) / 16;
  const int kvh = head / p.group;
  const int32_t* table = block_tables + static_cast<int64_t>(s) * p.max_blocks;

  for (int i = tid; i < BQ * NCHP; i += kCtxThreads) {
    const int r = i / NCHP, c = i % NCHP;
    const bool valid = r < rows && c < nch;
    const T* src = valid ? q + static_cast<int64_t>(q0 + row0 + r) * q_stride +
                               static_cast<int64_t>(head) * D + c * 8
                         : q;
    cp_async16(sQ + r * DS + c * 8, src, valid);
  }
  // Pool element offsets of a key tile's rows (-1: past kend), computed once per tile by threads
  // 0..BK-1 (one block-table lookup per key) and shared by the tile's K and V loads; two buffers:
  // tile kt's are read by V(kt)'s load while tile kt+1's are written.
  __shared__ int64_t sOff[2][BK];
  auto tile_offsets = [&](int kt) {
    if (tid < BK) {
      const int key = kt * BK + tid;
      int64_t off = -1;
      if (key < kend) {
        const int blk = p.bs_shift >= 0 ? table[key >> p.bs_shift] : table[key / p.block_size];
        const int in = p.bs_shift >= 0 ? key & (p.block_size - 1) : key % p.block_size;
        off = ((static_cast<int64_t>(blk) * p.kv_heads + kvh) * p.block_size + in) * D;
      }
      sOff[kt & 1][tid] = off;
    }
  };
  auto load_tile = [&](T* dst, const T* pool, int kt) {
    const int64_t* offs = sOff[kt & 1];
    for (int i = tid; i < BK * NCHP; i += kCtxThreads) {
      const int j = i / NCHP, c = i % NCHP;
      const int64_t off = offs[j];
      const bool valid = off >= 0 && c < nch;
      cp_async16(dst + j * DS + c * 8, pool + (valid ? off + c * 8 : 0), valid);
    }
  };
  if (nk > 0) tile_offsets(0);
  __syncthreads();  // sOff[0] written
  if (nk > 0) load_tile(sK, k_pool, 0);
  cp_async_commit();

  float o[DP / 8][4];
#pragma unroll
  for (int i = 0; i < DP / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m[2] = {kNegInf, kNegInf}, l[2] = {0.f, 0.f};
  const int wrow = warp * 16;
  const int g = lane / 4, cq = lane % 4, mi = lane / 8;
  const int pos0 = first_pos + row0 + wrow + g;  // absolute positions of this thread's rows
  const int pos_warp_min = first_pos + row0 + wrow;
  // Not causal: rows see keys up to kv_len - 1 (the last tile's zero-filled keys are masked).
  const int lim_warp_min = p.causal ? pos_warp_min : kv_len - 1;
  const float* bias_c = nullptr;  // this head's bias row, centred on distance 0
  if constexpr (BIAS)
    bias_c = p.bias + static_cast<int64_t>(head) * (2 * p.bias_radius + 1) + p.bias_radius;

  for (int kt = 0; kt < nk; ++kt) {
    cp_async_wait<0>();
    __syncthreads();  // K(kt) (and Q) landed; every warp is done with V(kt-1)
    load_tile(sV, v_pool, kt);
    cp_async_commit();
    // Tile kt+1's offsets (buffer last read by V(kt-1)'s load, before the barrier above); the
    // barrier before K(kt+1)'s load publishes them.
    if (kt + 1 < nk) tile_offsets(kt + 1);

    float sc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < DP / 16; ++ks) {
      if (ks < kd) {
        uint32_t a[4];
        ldmatrix_x4(a, sQ + (wrow + lane % 16) * DS + ks * 16 + (lane / 16) * 8);
#pragma unroll
        for (int np = 0; np < 4; ++np) {
          uint32_t b[4];
          ldmatrix_x4(b, sK + (np * 16 + (mi / 2) * 8 + lane % 8) * DS + ks * 16 + (mi % 2) * 8);
          mma16816<T>(sc[2 * np], a, b[0], b[1]);
          mma16816<T>(sc[2 * np + 1], a, b[2], b[3]);
        }
      }
    }
    const bool need_mask = kt * BK + BK - 1 > lim_warp_min;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = sc[nt][e] * p.scale_log2;
        const int key = kt * BK + nt * 8 + 2 * cq + (e & 1);
        if constexpr (BIAS) v += rel_bias_log2(bias_c, p.bias_radius, key, pos0 + (e >> 1) * 8);
        if (need_mask && key > (p.causal ? pos0 + (e >> 1) * 8 : kv_len - 1)) v = kNegInf;
        sc[nt][e] = v;
      }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float mx = kNegInf;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) mx = fmaxf(mx, fmaxf(sc[nt][2 * hr], sc[nt][2 * hr + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[hr], mx);
      const float m_use = m_new == kNegInf ? 0.f : m_new;
      const float alpha = fast_exp2(m[hr] - m_use);
      m[hr] = m_new;
      float rs = 0.f;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float pv = fast_exp2(sc[nt][2 * hr + e] - m_use);
          sc[nt][2 * hr + e] = pv;
          rs += pv;
        }
      l[hr] = l[hr] * alpha + rs;
#pragma unroll
      for (int dt = 0; dt < DP / 8; ++dt) {
        o[dt][2 * hr] *= alpha;
        o[dt][2 * hr + 1] *= alpha;
      }
    }

    cp_async_wait<0>();
    __syncthreads();  // V(kt) landed; every warp is done with K(kt)
    if (kt + 1 < nk) load_tile(sK, k_pool, kt + 1);
    cp_async_commit();

#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t a[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]),
                             pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                             pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                             pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < DP / 16; ++dp) {
        if (dp * 16 < D) {
          uint32_t b[4];
          ldmatrix_x4_trans(b,
                            sV + (kk * 16 + (mi % 2) * 8 + lane % 8) * DS + dp * 16 + (mi / 2) * 8);
          mma16816<T>(o[2 * dp], a, b[0], b[1]);
          mma16816<T>(o[2 * dp + 1], a, b[2], b[3]);
        }
      }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    float lt = l[hr];
    lt += __shfl_xor_sync(0xffffffffu, lt, 1);
    lt += __shfl_xor_sync(0xffffffffu, lt, 2);
    const float inv = lt > 0.f ? 1.f / lt : 0.f;
    const int r = wrow + g + hr * 8;
    if (r >= rows) continue;
    T* dst = out + (static_cast<int64_t>(q0 + row0 + r) * p.heads + head) * D;
#pragma unroll
    for (int dt = 0; dt < DP / 8; ++dt) {
      const int col = dt * 8 + 2 * cq;
      if (col < D)
        *reinterpret_cast<uint32_t*>(dst + col) =
            pack2<T>(o[dt][2 * hr] * inv, o[dt][2 * hr + 1] * inv);
    }
  }
}

}  // namespace kiln::ops::cuda::attn
