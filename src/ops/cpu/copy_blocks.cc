// copy_blocks on the CPU: one memcpy per (pair, pool).
#include <cstring>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

void copy_blocks(char* const* pools, int64_t num_pools, const int32_t* pairs, int64_t n,
                 int64_t block_bytes) {
  for (int64_t p = 0; p < num_pools; ++p)
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(pools[p] + pairs[2 * i + 1] * block_bytes, pools[p] + pairs[2 * i] * block_bytes,
                  block_bytes);
}

}  // namespace kiln::ops::cpu
