// BlockPool: the one allocator of KV-cache blocks, shared by the CPU and CUDA paths (it hands out
// block ids; the pools' bytes live elsewhere). Blocks are reference-counted so that beams and
// shared prefixes can share them; a block returns to the free list when its count drops to zero.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::runtime {

class BlockPool {
 public:
  explicit BlockPool(int32_t num_blocks);

  // Returns a fresh block id with count 1, or -1 when none is free.
  int32_t allocate();
  // Allocates n blocks all-or-nothing; false (and nothing taken) when fewer are free.
  bool allocate(int32_t n, std::vector<int32_t>* out);
  void retain(int32_t block);   // count += 1
  void release(int32_t block);  // count -= 1; freed at 0
  int32_t ref_count(int32_t block) const;
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_blocks() const { return static_cast<int32_t>(refs_.size()); }

 private:
  void check_id(int32_t block) const;
  std::vector<int32_t> free_;  // stack of free ids (lowest id on top)
  std::vector<int32_t> refs_;  // [num_blocks]
};

}  // namespace kiln::runtime
