#include "runtime/kv_cache/block_pool.h"

#include "core/check.h"

namespace kiln::runtime {

BlockPool::BlockPool(int32_t num_blocks) : refs_(num_blocks > 0 ? num_blocks : 0, 0) {
  KILN_CHECK(num_blocks > 0, "KV cache needs at least one block, got {}", num_blocks);
  free_.reserve(num_blocks);
  for (int32_t i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

int32_t BlockPool::allocate() {
  if (free_.empty()) return -1;
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

bool BlockPool::allocate(int32_t n, std::vector<int32_t>* out) {
  if (n > num_free()) return false;
  for (int32_t i = 0; i < n; ++i) out->push_back(allocate());
  return true;
}

void BlockPool::check_id(int32_t block) const {
  KILN_CHECK(block >= 0 && block < num_blocks(), "KV block {} out of range [0, {})", block,
             num_blocks());
}

void BlockPool::retain(int32_t block) {
  check_id(block);
  KILN_CHECK(refs_[block] > 0, "KV block {} retained while free", block);
  ++refs_[block];
}

void BlockPool::release(int32_t block) {
  check_id(block);
  KILN_CHECK(refs_[block] > 0, "KV block {} released while free (double free)", block);
  if (--refs_[block] == 0) free_.push_back(block);
}

int32_t BlockPool::ref_count(int32_t block) const {
  check_id(block);
  return refs_[block];
}

}  // namespace kiln::runtime
