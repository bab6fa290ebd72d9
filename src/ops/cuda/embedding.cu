// Row copies: embedding lookup (optionally accumulating into out) and gather_rows. One block per
// output row; 16-byte packs when d and every pointer allow, scalar otherwise.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include <algorithm>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

using detail::Pack;

// out [rows, d] (+)= src rows idx[r] of [.., d]; ids outside [0, vocab) read row 0 (vocab < 0:
// no bound). VEC divides d.
template <class T, int VEC>
__global__ void copy_rows_kernel(T* __restrict__ out, const int32_t* __restrict__ idx,
                                 const T* __restrict__ src, int64_t vocab, int64_t d,
                                 bool accumulate) {
  detail::pdl_enter();
  const int64_t r = blockIdx.x;
  int64_t id = idx[r];
  if (vocab >= 0 && (id < 0 || id >= vocab)) id = 0;
  const T* s = src + id * d;
  T* o = out + r * d;
  for (int64_t j = threadIdx.x * static_cast<int64_t>(VEC); j < d; j += blockDim.x * VEC) {
    Pack<T, VEC> v = detail::load_pack<T, VEC>(s + j);
    if (accumulate) {
      const Pack<T, VEC> a = detail::load_pack<T, VEC>(o + j);
#pragma unroll
      for (int k = 0; k < VEC; ++k)
        v.v[k] = detail::from_float<T>(detail::to_float(a.v[k]) + detail::to_float(v.v[k]));
    }
    detail::store_pack<T, VEC>(o + j, v);
  }
}

template <class T>
void copy_rows(T* out, const int32_t* idx, const T* src, int64_t rows, int64_t vocab, int64_t d,
               bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return;
  constexpr int V = detail::kVec16<T>;
  const bool vec = d % V == 0 && detail::is_aligned(out, 16) && detail::is_aligned(src, 16);
  const int64_t per_row = vec ? d / V : d;
  const int threads = static_cast<int>(std::clamp<int64_t>((per_row + 31) / 32 * 32, 32, 256));
  // rows <= 2^31 - 1 (grid.x limit): token counts are far below.
  if (vec) {
    cuda::launch(copy_rows_kernel<T, V>, dim3(static_cast<unsigned>(rows)), dim3(threads), 0,
                 stream, out, idx, src, vocab, d, accumulate);
  } else {
    cuda::launch(copy_rows_kernel<T, 1>, dim3(static_cast<unsigned>(rows)), dim3(threads), 0,
                 stream, out, idx, src, vocab, d, accumulate);
  }
}

}  // namespace

template <class T>
void embedding(T* out, const int32_t* ids, const T* table, int64_t n, int64_t vocab, int64_t d,
               bool accumulate, cudaStream_t stream) {
  copy_rows(out, ids, table, n, vocab, d, accumulate, stream);
  KILN_CUDA_LAUNCH_CHECK("embedding");
}

template <class T>
void gather_rows(T* out, const T* x, const int32_t* rows, int64_t m, int64_t d,
                 cudaStream_t stream) {
  copy_rows(out, rows, x, m, int64_t{-1}, d, false, stream);
  KILN_CUDA_LAUNCH_CHECK("gather_rows");
}

#define KILN_INSTANTIATE(T)                                                                 \
  template void embedding<T>(T*, const int32_t*, const T*, int64_t, int64_t, int64_t, bool, \
                             cudaStream_t);                                                 \
  template void gather_rows<T>(T*, const T*, const int32_t*, int64_t, int64_t, cudaStream_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(__half)
KILN_INSTANTIATE(__nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
