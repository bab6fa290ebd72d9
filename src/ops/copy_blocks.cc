// copy_blocks: the copy-on-write block copies of one step, every layer's K and V pool, in one
// launch (beams and n > 1 samples fork a shared partial block on nearly every step: one copy
// call per block, layer and pool costs thousands of launches at batch 64 x 4 beams).
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void copy_blocks(const Tensor& pools, const Tensor& pairs, int64_t block_bytes, ExecContext& ctx) {
  constexpr const char* op = "copy_blocks";
  KILN_CHECK(pools.dim() == 1 && pools.dtype() == DType::kInt64 && pools.is_contiguous(),
             "{}: pools must be contiguous int64 [num_pools] addresses, got {}", op,
             pools.shape_str());
  KILN_CHECK(pairs.dim() == 2 && pairs.size(1) == 2 && pairs.dtype() == DType::kInt32 &&
                 pairs.is_contiguous(),
             "{}: pairs must be contiguous int32 [n, 2] (src, dst), got {}", op, pairs.shape_str());
  KILN_CHECK(block_bytes > 0, "{}: block_bytes must be positive", op);
  KILN_CHECK(pools.device() == pairs.device(), "{}: pools and pairs on different devices", op);
  const int64_t n = pairs.size(0), num_pools = pools.size(0);
  if (n == 0 || num_pools == 0) return;
  KILN_CHECK(num_pools <= 65535 && n <= 2147483647, "{}: {} pools x {} copies exceed the grid",
             op, num_pools, n);
  require_cuda_built(op, pools);
#ifdef KILN_WITH_CUDA
  if (pools.device().is_cuda()) {
    cuda::copy_blocks(reinterpret_cast<char* const*>(pools.data<int64_t>()), num_pools,
                      pairs.data<int32_t>(), n, block_bytes, stream_of(ctx));
    return;
  }
#endif
  cpu::copy_blocks(reinterpret_cast<char* const*>(pools.data<int64_t>()), num_pools,
                   pairs.data<int32_t>(), n, block_bytes);
}

}  // namespace kiln::ops
