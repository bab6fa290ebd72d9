#include "runtime/kv_cache/block_manager.h"

#include <algorithm>

#include "core/check.h"

namespace kiln::runtime {

BlockManager::BlockManager(BlockPool& pool, int block_size, bool prefix_caching, int32_t reserved)
    : pool_(pool), block_size_(block_size), prefix_caching_(prefix_caching), reserved_(reserved) {
  KILN_CHECK(block_size > 0, "tokens_per_block must be positive");
}

int32_t BlockManager::num_available() const {
  int32_t n = pool_.num_free();
  for (int32_t b : lru_)
    if (pool_.ref_count(b) == 1) ++n;
  return n;
}

int32_t BlockManager::cross_cost(const Sequence& s) const {
  if (!s.is_encoder_decoder() || !s.cross_blocks.empty()) return 0;
  return static_cast<int32_t>(
      sequence_blocks(0, static_cast<int64_t>(s.encoder_tokens.size()), block_size_));
}

int32_t BlockManager::cost(const Sequence& s, int64_t upto) const {
  const int64_t need = (upto + block_size_ - 1) / block_size_;
  const int64_t held = static_cast<int64_t>(s.blocks.size());
  int32_t n = static_cast<int32_t>(std::max<int64_t>(0, need - held)) + cross_cost(s);
  for (int64_t i = s.num_computed / block_size_; i < std::min(need, held); ++i)
    if (pool_.ref_count(s.blocks[i]) > 1) ++n;
  return n;
}

int32_t BlockManager::take_block() {
  if (pool_.num_free() == 0) {
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      const int32_t b = *it;
      if (pool_.ref_count(b) != 1) continue;
      const uint64_t h = cached_hash_.at(b);
      auto range = cache_.equal_range(h);
      for (auto e = range.first; e != range.second; ++e)
        if (e->second.block == b) {
          cache_.erase(e);
          break;
        }
      cached_hash_.erase(b);
      lru_.erase(it);
      pool_.release(b);
      break;
    }
  }
  const int32_t b = pool_.allocate();
  KILN_CHECK(b >= 0, "KV cache: no block available (the scheduler should have checked)");
  return b;
}

void BlockManager::ensure(Sequence& s, int64_t upto, std::vector<BlockCopy>* copies) {
  const int64_t need = (upto + block_size_ - 1) / block_size_;
  const int64_t held = static_cast<int64_t>(s.blocks.size());
  for (int64_t i = s.num_computed / block_size_; i < std::min(need, held); ++i) {
    const int32_t old = s.blocks[i];
    if (pool_.ref_count(old) <= 1) continue;
    const int32_t fresh = take_block();
    copies->push_back({old, fresh});
    pool_.release(old);  // still referenced elsewhere: stays valid as the copy's source
    s.blocks[i] = fresh;
  }
  for (int64_t i = held; i < need; ++i) s.blocks.push_back(take_block());
  for (int32_t i = cross_cost(s); i > 0; --i) s.cross_blocks.push_back(take_block());
}

void BlockManager::fork(const Sequence& parent, Sequence& child) {
  KILN_CHECK(child.blocks.empty(), "fork into a sequence that holds blocks");
  for (int32_t b : parent.blocks) pool_.retain(b);
  child.blocks = parent.blocks;
  child.blocks_registered = parent.blocks_registered;
  // Cross-attention K/V are written once and only read afterwards: shared, never copied.
  for (int32_t b : parent.cross_blocks) pool_.retain(b);
  child.encoder_tokens = parent.encoder_tokens;
  child.cross_blocks = parent.cross_blocks;
  child.cross_ready = parent.cross_ready;
}

void BlockManager::free(Sequence& s) {
  for (int32_t b : s.blocks) pool_.release(b);
  s.blocks.clear();
  s.blocks_registered = 0;
  for (int32_t b : s.cross_blocks) pool_.release(b);
  s.cross_blocks.clear();
  s.cross_ready = false;
}

uint64_t BlockManager::prefix_hash(const std::vector<int32_t>& tokens, int64_t end) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the ids
  for (int64_t i = 0; i < end; ++i) {
    h ^= static_cast<uint32_t>(tokens[i]);
    h *= 1099511628211ull;
  }
  return h;
}

int64_t BlockManager::match_prefix(Sequence& s) {
  if (!prefix_caching_ || !s.blocks.empty() || s.is_encoder_decoder()) return 0;
  const int64_t len = static_cast<int64_t>(s.tokens.size());
  const int64_t max_blocks = (len - 1) / block_size_;
  int64_t matched = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const int64_t end = (i + 1) * block_size_;
    const uint64_t h = prefix_hash(s.tokens, end);
    auto range = cache_.equal_range(h);
    const Entry* hit = nullptr;
    for (auto e = range.first; e != range.second; ++e)
      if (std::equal(e->second.tokens.begin(), e->second.tokens.end(), s.tokens.begin(),
                     s.tokens.begin() + end)) {
        hit = &e->second;
        break;
      }
    if (!hit) break;
    pool_.retain(hit->block);
    s.blocks.push_back(hit->block);
    lru_.splice(lru_.end(), lru_, hit->lru);  // most recently used
    matched = end;
  }
  s.num_computed = matched;
  s.blocks_registered = matched / block_size_;
  hit_tokens_ += matched;
  return matched;
}

void BlockManager::register_computed(Sequence& s) {
  if (!prefix_caching_ || s.is_encoder_decoder()) return;
  const int64_t full = std::min<int64_t>(s.num_computed / block_size_, s.blocks.size());
  for (int64_t i = s.blocks_registered; i < full; ++i) {
    const int32_t b = s.blocks[i];
    if (cached_hash_.count(b)) continue;
    const int64_t end = (i + 1) * block_size_;
    const uint64_t h = prefix_hash(s.tokens, end);
    bool present = false;  // another block already caches this prefix
    auto range = cache_.equal_range(h);
    for (auto e = range.first; e != range.second && !present; ++e)
      present = std::equal(e->second.tokens.begin(), e->second.tokens.end(), s.tokens.begin(),
                           s.tokens.begin() + end);
    if (present) continue;
    pool_.retain(b);
    lru_.push_back(b);
    cache_.emplace(h, Entry{b, {s.tokens.begin(), s.tokens.begin() + end}, std::prev(lru_.end())});
    cached_hash_[b] = h;
  }
  s.blocks_registered = std::max(s.blocks_registered, full);
}

}  // namespace kiln::runtime
