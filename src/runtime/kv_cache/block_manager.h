// BlockManager: the block tables of running sequences over the ref-counted BlockPool. It grows a
// table for the tokens a step will write, shares a table with a fork (beams, n > 1 samples),
// copies a shared block before it is written (copy-on-write: the copy is returned to the caller,
// which runs it on the device before the forward), and, behind a flag, keeps full blocks of
// computed tokens in a prefix cache keyed by the token content of the whole prefix up to that
// block (decoder-only sequences: an encoder–decoder decoder prefix depends on its encoder
// input). The cache holds one reference per block; unreferenced cached blocks are evicted
// least-recently-used first when the pool runs dry, so caching never costs capacity.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "runtime/kv_cache/block_pool.h"
#include "runtime/sequence.h"

namespace kiln::runtime {

// Blocks one sequence may hold over its life: `tokens` decoder tokens (prompt + max_new) and, for
// an encoder–decoder sequence, the cross-attention blocks of its `encoder_tokens`.
inline int64_t sequence_blocks(int64_t tokens, int64_t encoder_tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size + (encoder_tokens + block_size - 1) / block_size;
}

struct BlockCopy {
  int32_t src = 0;
  int32_t dst = 0;
};

class BlockManager {
 public:
  // reserved: blocks the pool has handed out for good (e.g. the CUDA graphs' scratch block).
  BlockManager(BlockPool& pool, int block_size, bool prefix_caching, int32_t reserved = 0);

  int block_size() const { return block_size_; }
  int32_t num_total() const { return pool_.num_blocks() - reserved_; }
  // Blocks that an allocation can get now: free ones plus cached ones nobody references.
  int32_t num_available() const;
  int32_t num_used() const { return num_total() - num_available(); }

  // Blocks `s` must newly take to hold positions [0, upto) and write [s.num_computed, upto):
  // missing blocks plus copies of shared blocks in the written range, plus (encoder–decoder) the
  // cross-attention blocks of its encoder input when it holds none.
  int32_t cost(const Sequence& s, int64_t upto) const;
  // Takes those blocks (the caller checked cost() <= num_available()); appends the copies to run.
  void ensure(Sequence& s, int64_t upto, std::vector<BlockCopy>* copies);
  // child gets parent's blocks, and its cross-attention blocks (each retained once more).
  void fork(const Sequence& parent, Sequence& child);
  // Releases all of s's blocks (cached ones stay in the cache), cross-attention ones included.
  void free(Sequence& s);

  // Prefix caching: gives a sequence with no blocks the cached blocks of its longest matching
  // prefix of full blocks (never the block of its last token, whose logits must be computed) and
  // sets num_computed. Returns the tokens matched (0 when caching is off).
  int64_t match_prefix(Sequence& s);
  // Prefix caching: enters s's full, computed blocks into the cache (call after each step).
  void register_computed(Sequence& s);
  int64_t cache_hits() const { return hit_tokens_; }

 private:
  struct Entry {
    int32_t block;
    std::vector<int32_t> tokens;  // the whole prefix up to the end of this block
    std::list<int32_t>::iterator lru;
  };
  int32_t cross_cost(const Sequence& s) const;  // cross blocks s must still take
  int32_t take_block();  // a free block, evicting a cached one when none is free
  uint64_t prefix_hash(const std::vector<int32_t>& tokens, int64_t end) const;

  BlockPool& pool_;
  int block_size_;
  bool prefix_caching_;
  int32_t reserved_;
  std::unordered_multimap<uint64_t, Entry> cache_;      // prefix hash -> block
  std::unordered_map<int32_t, uint64_t> cached_hash_;   // block -> its prefix hash
  std::list<int32_t> lru_;                              // cached blocks, least recent first
  int64_t hit_tokens_ = 0;
};

}  // namespace kiln::runtime
