// Block manager (fork, copy-on-write, prefix cache with LRU eviction) and the scheduler's policies
// (micro-batch chunks, capacity, eviction) without a model.
#include <gtest/gtest.h>

#include "runtime/kv_cache/block_manager.h"
#include "runtime/request_state.h"
#include "runtime/output/sequence_output.h"
#include "runtime/sampling/beam_search.h"
#include "runtime/scheduler/capacity_policy.h"
#include "runtime/scheduler/eviction_policy.h"
#include "runtime/scheduler/micro_batch.h"

namespace kiln::runtime {
namespace {

Sequence seq_of(std::vector<int32_t> tokens, int64_t computed = 0) {
  Sequence s;
  s.tokens = std::move(tokens);
  s.prompt_len = static_cast<int64_t>(s.tokens.size());
  s.num_computed = computed;
  return s;
}

TEST(BlockManager, GrowsTablesAndCountsCost) {
  BlockPool pool(8);
  BlockManager bm(pool, 4, false);
  Sequence s = seq_of({1, 2, 3, 4, 5, 6});
  EXPECT_EQ(bm.cost(s, 6), 2);
  std::vector<BlockCopy> copies;
  bm.ensure(s, 6, &copies);
  EXPECT_EQ(s.blocks.size(), 2u);
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(bm.num_available(), 6);
  EXPECT_EQ(bm.cost(s, 8), 0);  // still inside the second block
  EXPECT_EQ(bm.cost(s, 9), 1);
  bm.free(s);
  EXPECT_EQ(bm.num_available(), 8);
}

TEST(BlockManager, ForkSharesAndCopiesOnWrite) {
  BlockPool pool(8);
  BlockManager bm(pool, 4, false);
  Sequence parent = seq_of({1, 2, 3, 4, 5, 6});
  std::vector<BlockCopy> copies;
  bm.ensure(parent, 6, &copies);
  parent.num_computed = 6;
  Sequence child = parent;
  child.blocks.clear();
  bm.fork(parent, child);
  EXPECT_EQ(pool.ref_count(parent.blocks[0]), 2);
  EXPECT_EQ(pool.ref_count(parent.blocks[1]), 2);
  // The child writes position 6 (inside the shared, partly filled block 1): one copy, and the
  // full block 0 stays shared.
  child.tokens.push_back(7);
  EXPECT_EQ(bm.cost(child, 7), 1);
  bm.ensure(child, 7, &copies);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, parent.blocks[1]);
  EXPECT_EQ(copies[0].dst, child.blocks[1]);
  EXPECT_NE(child.blocks[1], parent.blocks[1]);
  EXPECT_EQ(child.blocks[0], parent.blocks[0]);
  EXPECT_EQ(pool.ref_count(parent.blocks[1]), 1);
  // Now the parent owns its last block alone: writing it copies nothing.
  parent.tokens.push_back(9);
  copies.clear();
  EXPECT_EQ(bm.cost(parent, 7), 0);
  bm.ensure(parent, 7, &copies);
  EXPECT_TRUE(copies.empty());
  bm.free(parent);
  bm.free(child);
  EXPECT_EQ(bm.num_available(), 8);
}

TEST(BlockManager, PrefixCacheMatchesFullBlocksAndEvictsLru) {
  BlockPool pool(6);
  BlockManager bm(pool, 4, true);
  Sequence a = seq_of({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  std::vector<BlockCopy> copies;
  bm.ensure(a, 10, &copies);
  a.num_computed = 10;
  bm.register_computed(a);  // blocks [1..4] and [5..8] are full
  bm.free(a);
  EXPECT_EQ(bm.num_available(), 6);  // cached but unreferenced: still available
  // Same first 8 tokens: both full blocks match; different 9th token irrelevant.
  Sequence b = seq_of({1, 2, 3, 4, 5, 6, 7, 8, 42});
  EXPECT_EQ(bm.match_prefix(b), 8);
  EXPECT_EQ(b.num_computed, 8);
  EXPECT_EQ(b.blocks.size(), 2u);
  // A prompt of exactly 8 tokens matches only one block: its last token's logits must be computed.
  Sequence c = seq_of({1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(bm.match_prefix(c), 4);
  // A different first block matches nothing (the second block's key includes the prefix).
  Sequence d = seq_of({9, 2, 3, 4, 5, 6, 7, 8, 1});
  EXPECT_EQ(bm.match_prefix(d), 0);
  bm.free(b);
  bm.free(c);
  // Exhaust the pool: cached blocks are evicted instead of failing.
  Sequence e = seq_of(std::vector<int32_t>(24, 3));
  EXPECT_EQ(bm.cost(e, 24), 6);
  EXPECT_LE(bm.cost(e, 24), bm.num_available());
  bm.ensure(e, 24, &copies);
  EXPECT_EQ(bm.num_available(), 0);
  bm.free(e);
  Sequence f = seq_of({1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(bm.match_prefix(f), 0);  // evicted
}

std::unique_ptr<RequestState> request_with(int n_seqs, std::vector<int64_t> remaining) {
  auto rp = std::make_unique<RequestState>();
  RequestState& r = *rp;
  r.params.n = n_seqs;
  r.forked = n_seqs > 1;
  for (int i = 0; i < n_seqs; ++i) {
    SeqSlot slot;
    slot.seq = std::make_unique<Sequence>(seq_of(std::vector<int32_t>(10, 1)));
    slot.seq->num_computed = 10 - remaining[i];
    r.seqs.push_back(std::move(slot));
  }
  return rp;
}

TEST(MicroBatch, ChunksPrefillWithinTheTokenBudget) {
  auto rp = request_with(1, {10});
  RequestState& r = *rp;
  auto chunks = plan_chunks(r, 4, 8);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].num_tokens, 4);
  EXPECT_FALSE(chunks[0].wants_logits);
  chunks = plan_chunks(r, 64, 8);
  EXPECT_EQ(chunks[0].num_tokens, 10);
  EXPECT_TRUE(chunks[0].wants_logits);
  EXPECT_TRUE(plan_chunks(r, 64, 0).empty());  // no sequence slot left
}

TEST(MicroBatch, ForkedSequencesTakeLogitsTogether) {
  auto readyp = request_with(3, {1, 1, 1});
  RequestState& ready = *readyp;
  EXPECT_TRUE(is_decode_ready(ready));
  EXPECT_EQ(plan_chunks(ready, 3, 3).size(), 3u);
  EXPECT_TRUE(plan_chunks(ready, 2, 3).empty());  // all or none
  // After a preemption: catch up to the last token, without logits, holding the caught-up one.
  auto catchingp = request_with(3, {5, 1, 3});
  RequestState& catching = *catchingp;
  EXPECT_FALSE(is_decode_ready(catching));
  const auto chunks = plan_chunks(catching, 64, 8);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].num_tokens, 4);
  EXPECT_EQ(chunks[1].num_tokens, 2);
  for (const auto& c : chunks) EXPECT_FALSE(c.wants_logits);
}

TEST(CapacityPolicy, CountsSequencesAndKeepsAWatermark) {
  Capacity c{8, 6, 10, 2};
  EXPECT_TRUE(can_admit(c, 2, 8));
  EXPECT_FALSE(can_admit(c, 2, 9));   // would eat the watermark
  EXPECT_FALSE(can_admit(c, 3, 1));   // 6 + 3 sequences > 8
  Capacity empty{8, 0, 10, 2};
  EXPECT_TRUE(can_admit(empty, 4, 10));  // an idle engine admits what fits the pool
  EXPECT_EQ(watermark_for(1000), 11);
  EXPECT_EQ(watermark_for(5), 0);
}

TEST(EvictionPolicy, PreemptsTheNewestRequest) {
  RequestState a, b, c;
  a.arrival = 3;
  b.arrival = 7;
  c.arrival = 5;
  EXPECT_EQ(pick_victim({&a, &b, &c}), &b);
  EXPECT_EQ(pick_victim({}), nullptr);
}

}  // namespace
}  // namespace kiln::runtime
