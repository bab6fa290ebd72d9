// LayerNorm and fused residual-add + LayerNorm: one block per row, the row held in registers (up
// to 8 elements per thread, 16-byte packs when d and the pointers allow) so statistics are an exact
// two-pass fp32 mean/variance over one global read; rows too long for the registers re-read
// global memory instead (same arithmetic). The fused variant normalises the residual as stored
// (rounded to T), so it equals add() followed by layer_norm().
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include <algorithm>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

using detail::from_float;
using detail::Pack;
using detail::to_float;

constexpr int kRegElems = 8;  // elements cached per thread

template <int VEC>
constexpr int packs_per_thread() {
  return VEC >= kRegElems ? 1 : kRegElems / VEC;
}

// kAdd: residual [rows, d] += in (delta), normalise residual. Else normalise in (x).
template <class T, int VEC, bool kAdd>
__global__ void layer_norm_kernel(T* __restrict__ out, T* __restrict__ residual,
                                  const T* __restrict__ in, const T* __restrict__ w,
                                  const T* __restrict__ b, int64_t d, float eps) {
  detail::pdl_enter();
  constexpr int PP = packs_per_thread<VEC>();
  const int64_t row = blockIdx.x;
  const T* x = in + row * d;
  T* res = kAdd ? residual + row * d : nullptr;
  T* o = out + row * d;
  const int64_t packs = d / VEC;
  const int64_t nthreads = blockDim.x;
  const bool cached = packs <= PP * nthreads;

  // Loads pack p: the (residual + delta, rounded and stored) or x values.
  auto load = [&](int64_t p, float(&f)[VEC], bool store_residual) {
    const Pack<T, VEC> a = detail::load_pack<T, VEC>((kAdd ? res : x) + p * VEC);
    if constexpr (kAdd) {
      if (store_residual) {
        const Pack<T, VEC> dl = detail::load_pack<T, VEC>(x + p * VEC);
        Pack<T, VEC> s;
#pragma unroll
        for (int k = 0; k < VEC; ++k) s.v[k] = from_float<T>(to_float(a.v[k]) + to_float(dl.v[k]));
        detail::store_pack<T, VEC>(res + p * VEC, s);
#pragma unroll
        for (int k = 0; k < VEC; ++k) f[k] = to_float(s.v[k]);
        return;
      }
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) f[k] = to_float(a.v[k]);
  };

  float v[PP][VEC];
  float sum = 0.f;
  if (cached) {
#pragma unroll
    for (int i = 0; i < PP; ++i) {
      const int64_t p = threadIdx.x + i * nthreads;
      if (p < packs) {
        load(p, v[i], true);
#pragma unroll
        for (int k = 0; k < VEC; ++k) sum += v[i][k];
      }
    }
  } else {
    for (int64_t p = threadIdx.x; p < packs; p += nthreads) {
      float f[VEC];
      load(p, f, true);
#pragma unroll
      for (int k = 0; k < VEC; ++k) sum += f[k];
    }
  }
  const float mean = detail::block_sum(sum) / static_cast<float>(d);

  float sq = 0.f;
  if (cached) {
#pragma unroll
    for (int i = 0; i < PP; ++i) {
      if (threadIdx.x + i * nthreads < packs) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float c = v[i][k] - mean;
          sq += c * c;
        }
      }
    }
  } else {
    for (int64_t p = threadIdx.x; p < packs; p += nthreads) {
      float f[VEC];
      load(p, f, false);
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        const float c = f[k] - mean;
        sq += c * c;
      }
    }
  }
  const float var = detail::block_sum(sq) / static_cast<float>(d);
  const float inv = 1.f / sqrtf(var + eps);

  auto write = [&](int64_t p, const float(&f)[VEC]) {
    const Pack<T, VEC> wp = detail::load_pack<T, VEC>(w + p * VEC);
    Pack<T, VEC> bp;
    if (b) bp = detail::load_pack<T, VEC>(b + p * VEC);
    Pack<T, VEC> r;
#pragma unroll
    for (int k = 0; k < VEC; ++k)
      r.v[k] =
          from_float<T>((f[k] - mean) * inv * to_float(wp.v[k]) + (b ? to_float(bp.v[k]) : 0.f));
    detail::store_pack<T, VEC>(o + p * VEC, r);
  };
  if (cached) {
#pragma unroll
    for (int i = 0; i < PP; ++i) {
      const int64_t p = threadIdx.x + i * nthreads;
      if (p < packs) write(p, v[i]);
    }
  } else {
    for (int64_t p = threadIdx.x; p < packs; p += nthreads) {
      float f[VEC];
      load(p, f, false);
      write(p, f);
    }
  }
}

template <class T, int VEC, bool kAdd>
void launch_vec(T* out, T* residual, const T* in, const T* w, const T* b, int64_t rows, int64_t d,
                float eps, cudaStream_t stream) {
  constexpr int PP = packs_per_thread<VEC>();
  const int64_t packs = d / VEC;
  const int64_t want = detail::ceil_div(packs, PP);
  const int threads = static_cast<int>(std::clamp<int64_t>((want + 31) / 32 * 32, 32, 1024));
  KILN_CUDA_CHECK(cuda::launch(layer_norm_kernel<T, VEC, kAdd>, dim3(static_cast<unsigned>(rows)),
                               dim3(threads), 0, stream, out, residual, in, w, b, d, eps),
                  kAdd ? "add_layer_norm" : "layer_norm");
}

template <class T, bool kAdd>
void launch_norm(T* out, T* residual, const T* in, const T* w, const T* b, int64_t rows, int64_t d,
                 float eps, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return;
  constexpr int V = detail::kVec16<T>;
  const bool vec = d % V == 0 && detail::is_aligned(out, 16) && detail::is_aligned(in, 16) &&
                   detail::is_aligned(w, 16) && (!b || detail::is_aligned(b, 16)) &&
                   (!kAdd || detail::is_aligned(residual, 16));
  if (vec) {
    launch_vec<T, V, kAdd>(out, residual, in, w, b, rows, d, eps, stream);
  } else {
    launch_vec<T, 1, kAdd>(out, residual, in, w, b, rows, d, eps, stream);
  }
}

}  // namespace

template <class T>
void layer_norm(T* out, const T* x, const T* w, const T* b, int64_t rows, int64_t d, float eps,
                cudaStream_t stream) {
  launch_norm<T, false>(out, nullptr, x, w, b, rows, d, eps, stream);
  KILN_CUDA_LAUNCH_CHECK("layer_norm");
}

template <class T>
void add_layer_norm(T* residual, T* out, const T* delta, const T* w, const T* b, int64_t rows,
                    int64_t d, float eps, cudaStream_t stream) {
  launch_norm<T, true>(out, residual, delta, w, b, rows, d, eps, stream);
  KILN_CUDA_LAUNCH_CHECK("add_layer_norm");
}

#define KILN_INSTANTIATE(T)                                                                      \
  template void layer_norm<T>(T*, const T*, const T*, const T*, int64_t, int64_t, float,         \
                              cudaStream_t);                                                     \
  template void add_layer_norm<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, float, \
                                  cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
