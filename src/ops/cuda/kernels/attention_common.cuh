// Device helpers shared by the attention kernels: fp32 <-> T conversion, 16-byte vector loads,
// cp.async (16-byte, zero-filling), ldmatrix and the m16n8k16 tensor-core MMA (fp32 accumulators).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "ops/cuda/kernels/common.cuh"

namespace kiln::ops::cuda::attn {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.4426950408889634f;

__host__ __device__ inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// fp32 conversions shared with every other kernel (common.cuh).
using detail::from_float;
using detail::to_float;

// 16 bytes of T <-> 16 / sizeof(T) floats.
template <class T>
struct Vec16 {
  static constexpr int kN = 16 / sizeof(T);
};

template <class T>
__device__ __forceinline__ void load16(const T* p, float (&f)[16 / sizeof(T)]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  if constexpr (sizeof(T) == 4) {
    f[0] = __uint_as_float(u.x);
    f[1] = __uint_as_float(u.y);
    f[2] = __uint_as_float(u.z);
    f[3] = __uint_as_float(u.w);
  } else {
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (std::is_same_v<T, __half>) {
        __half2 h;
        *reinterpret_cast<uint32_t*>(&h) = w[i];
        const float2 v = __half22float2(h);
        f[2 * i] = v.x;
        f[2 * i + 1] = v.y;
      } else {
        __nv_bfloat162 h;
        *reinterpret_cast<uint32_t*>(&h) = w[i];
        const float2 v = __bfloat1622float2(h);
        f[2 * i] = v.x;
        f[2 * i + 1] = v.y;
      }
    }
  }
}

// Two floats -> one 32-bit register of two T (lo in the low half), for MMA operands and stores.
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t u;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    u = *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    u = *reinterpret_cast<const uint32_t*>(&h);
  }
  return u;
}

template <class T>
__device__ __forceinline__ void store16(T* p, const float (&f)[16 / sizeof(T)]) {
  uint4 u;
  if constexpr (sizeof(T) == 4) {
    u = make_uint4(__float_as_uint(f[0]), __float_as_uint(f[1]), __float_as_uint(f[2]),
                   __float_as_uint(f[3]));
  } else {
    u = make_uint4(pack2<T>(f[0], f[1]), pack2<T>(f[2], f[3]), pack2<T>(f[4], f[5]),
                   pack2<T>(f[6], f[7]));
  }
  *reinterpret_cast<uint4*>(p) = u;
}

// a + q · (16 bytes of T at p), q fp32 (16 / sizeof(T) floats), in element order: the score
// dot product of the decode kernels, piece by piece.
template <class T>
__device__ __forceinline__ float dot16(const T* p, const float* q, float a) {
  constexpr int VEC = 16 / sizeof(T);
  float kf[VEC];
  load16(p, kf);
#pragma unroll
  for (int e = 0; e < VEC; e += 4) {
    const float4 q4 = *reinterpret_cast<const float4*>(q + e);
    a = fmaf(q4.x, kf[e], a);
    a = fmaf(q4.y, kf[e + 1], a);
    a = fmaf(q4.z, kf[e + 2], a);
    a = fmaf(q4.w, kf[e + 3], a);
  }
  return a;
}

// cp.async of 16 bytes; when !valid nothing is read and the destination is zero-filled.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

// d[16x8 fp32] += a[16x16] · b[16x8] (row.col), T = __half or __nv_bfloat16.
template <class T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Offset of row `pos` of kv head `kvh` in a pool [num_blocks, kv_heads, block_size, head_dim].
// 2^x by the SFU alone (ex2.approx.ftz: denormal results flush to zero; exp2f adds range
// handling around it). -inf gives +0.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ int64_t pool_row(const int32_t* table, int pos, int kvh, int kv_heads,
                                            int bs, int d) {
  const int blk = table[pos / bs];
  return ((static_cast<int64_t>(blk) * kv_heads + kvh) * bs + pos % bs) * d;
}

// The pool row (element offset) of KV slot `slot` (= block * bs + offset), head kvh.
__device__ __forceinline__ int64_t slot_row(int32_t slot, int kvh, int kv_heads, int bs, int d) {
  return ((static_cast<int64_t>(slot / bs) * kv_heads + kvh) * bs + slot % bs) * d;
}

// kv[u] = 16-byte piece u of a K row, for u < min(N, n) (the rest untouched).
template <class T, int N>
__device__ __forceinline__ void load_row_pieces(uint4 (&kv)[N], const T* row, int n) {
  constexpr int VEC = 16 / sizeof(T);
#pragma unroll
  for (int u = 0; u < N; ++u)
    if (u < n) kv[u] = __ldg(reinterpret_cast<const uint4*>(row + u * VEC));
}

// a + Σ over the first n (<= N) 16-byte pieces of K of piece · q (fp32 q, VEC floats per piece).
template <class T, int N>
__device__ __forceinline__ float row_dot(const uint4 (&kv)[N], int n, const float* qv, float a) {
  constexpr int VEC = 16 / sizeof(T);
#pragma unroll
  for (int u = 0; u < N; ++u)
    if (u < n) a = dot16<T>(reinterpret_cast<const T*>(&kv[u]), qv + u * VEC, a);
  return a;
}

// Relative position bias in the exp2 domain: log2(e) * bias[clamp(key - pos, -R, R)], where
// `centre` points at a head's row of the [heads, 2R + 1] table plus R.
__device__ __forceinline__ float rel_bias_log2(const float* __restrict__ centre, int radius,
                                               int key, int pos) {
  return kLog2e * __ldg(centre + min(max(key - pos, -radius), radius));
}

}  // namespace kiln::ops::cuda::attn
