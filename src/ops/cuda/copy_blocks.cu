// copy_blocks: one CTA per (pair, pool) copies a whole KV block, 16-byte words when every block
// is 16-byte aligned (block sizes in bytes are multiples of 16 for any head_dim * block_size
// that is a multiple of 8 in 16-bit, 4 in fp32), bytes otherwise.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

template <class W>
__global__ void copy_blocks_kernel(char* const* __restrict__ pools,
                                   const int32_t* __restrict__ pairs, int64_t block_words) {
  detail::pdl_enter();
  const int64_t i = blockIdx.x;
  W* pool = reinterpret_cast<W*>(pools[blockIdx.y]);
  const W* src = pool + pairs[2 * i] * block_words;
  W* dst = pool + pairs[2 * i + 1] * block_words;
  for (int64_t j = threadIdx.x; j < block_words; j += blockDim.x) dst[j] = src[j];
}

}  // namespace

void copy_blocks(char* const* pools, int64_t num_pools, const int32_t* pairs, int64_t n,
                 int64_t block_bytes, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(num_pools));
  if (block_bytes % 16 == 0) {
    cuda::launch(copy_blocks_kernel<uint4>, dim3(grid), dim3(256), 0, stream, pools, pairs,
                 block_bytes / 16);
  } else {
    cuda::launch(copy_blocks_kernel<char>, dim3(grid), dim3(256), 0, stream, pools, pairs,
                 block_bytes);
  }
  KILN_CUDA_CHECK(cudaGetLastError(), "copy_blocks");
}

}  // namespace kiln::ops::cuda
