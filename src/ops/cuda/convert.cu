// Element type conversion (float <-> half <-> bf16): 8 elements per thread per step, loaded and
// stored as aligned packs when both pointers allow, through fp32 with round-to-nearest-even.
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

constexpr int kThreads = 256;

template <class Src, class Dst, int VEC>
__global__ void convert_kernel(Dst* __restrict__ out, const Src* __restrict__ in, int64_t count) {
  detail::pdl_enter();
  const int64_t packs = count / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  for (int64_t p = tid; p < packs; p += stride) {
    const Pack<Src, VEC> v = detail::load_pack<Src, VEC>(in + p * VEC);
    Pack<Dst, VEC> o;
#pragma unroll
    for (int j = 0; j < VEC; ++j) o.v[j] = detail::from_float<Dst>(detail::to_float(v.v[j]));
    detail::store_pack<Dst, VEC>(out + p * VEC, o);
  }
  const int64_t tail = packs * VEC + tid;
  if (VEC > 1 && tail < count) out[tail] = detail::from_float<Dst>(detail::to_float(in[tail]));
}

}  // namespace

template <class Src, class Dst>
void convert(Dst* out, const Src* in, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  constexpr int V = 8;
  const bool vec =
      detail::is_aligned(in, sizeof(Src) * V) && detail::is_aligned(out, sizeof(Dst) * V);
  const int64_t work = vec ? count / V + 1 : count;
  const int grid = static_cast<int>(std::clamp<int64_t>(detail::ceil_div(work, kThreads), 1, 8192));
  if (vec) {
    cuda::launch(convert_kernel<Src, Dst, V>, dim3(grid), dim3(kThreads), 0, stream, out, in,
                 count);
  } else {
    cuda::launch(convert_kernel<Src, Dst, 1>, dim3(grid), dim3(kThreads), 0, stream, out, in,
                 count);
  }
  KILN_CUDA_LAUNCH_CHECK("convert");
}

#define KILN_INSTANTIATE(S, D) template void convert<S, D>(D*, const S*, int64_t, cudaStream_t);
KILN_INSTANTIATE(float, float)
KILN_INSTANTIATE(float, __half)
KILN_INSTANTIATE(float, __nv_bfloat16)
KILN_INSTANTIATE(__half, float)
KILN_INSTANTIATE(__half, __half)
KILN_INSTANTIATE(__half, __nv_bfloat16)
KILN_INSTANTIATE(__nv_bfloat16, float)
KILN_INSTANTIATE(__nv_bfloat16, __half)
KILN_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
