#include "runtime/kv_cache/kv_cache.h"

namespace kiln::runtime {

KvCache::KvCache(const KvCacheShape& shape, Allocator* alloc)
    : shape_(shape), pool_(shape.num_blocks) {
  KILN_CHECK(shape.num_layers > 0 && shape.num_kv_heads > 0 && shape.head_dim > 0 &&
                 shape.block_size > 0,
             "invalid KV cache shape: {} layers, {} kv heads, head_dim {}, block_size {}",
             shape.num_layers, shape.num_kv_heads, shape.head_dim, shape.block_size);
  const Shape pool_shape = {shape.num_blocks, shape.num_kv_heads, shape.block_size, shape.head_dim};
  for (int l = 0; l < shape.num_layers; ++l) {
    view_.k.push_back(Tensor::empty(pool_shape, shape.dtype, alloc));
    view_.v.push_back(Tensor::empty(pool_shape, shape.dtype, alloc));
  }
}

}  // namespace kiln::runtime
