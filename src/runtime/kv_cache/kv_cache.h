// KvCache: per layer one K pool and one V pool of fixed-size blocks, laid out head-major
// [num_blocks, kv_heads, block_size, head_dim] so each head's tokens are contiguous for the decode
// kernel; plus the BlockPool that hands out block ids. Sized once at start-up.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "layers/forward_batch.h"
#include "runtime/kv_cache/block_pool.h"

namespace kiln::runtime {

struct KvCacheShape {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;   // tokens per block
  int num_blocks = 0;
  DType dtype = DType::kFloat32;
  size_t bytes() const {
    return 2ull * num_layers * num_blocks * num_kv_heads * block_size * head_dim *
           dtype_size(dtype);
  }
};

class KvCache {
 public:
  KvCache(const KvCacheShape& shape, Allocator* alloc = cpu_allocator());
  const KvCacheShape& shape() const { return shape_; }
  BlockPool& blocks() { return pool_; }
  layers::KvCacheView view() { return view_; }
  // Blocks a sequence of `tokens` tokens occupies.
  int blocks_for(int64_t tokens) const {
    return static_cast<int>((tokens + shape_.block_size - 1) / shape_.block_size);
  }

 private:
  KvCacheShape shape_;
  BlockPool pool_;
  layers::KvCacheView view_;  // k[l], v[l]: [num_blocks, kv_heads, block_size, head_dim]
};

}  // namespace kiln::runtime
