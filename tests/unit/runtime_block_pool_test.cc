#include <gtest/gtest.h>

#include "core/check.h"
#include "runtime/batch_builder.h"
#include "runtime/kv_cache/block_pool.h"

namespace kiln::runtime {
namespace {

TEST(BlockPool, AllocateRetainRelease) {
  BlockPool pool(4);
  EXPECT_EQ(pool.num_free(), 4);
  std::vector<int32_t> got;
  EXPECT_TRUE(pool.allocate(3, &got));
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_FALSE(pool.allocate(2, &got));  // all-or-nothing
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(pool.num_free(), 1);
  pool.retain(1);  // shared by a second owner
  pool.release(1);
  EXPECT_EQ(pool.ref_count(1), 1);
  EXPECT_EQ(pool.num_free(), 1);
  pool.release(1);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_THROW(pool.release(1), Error);  // double free
  EXPECT_THROW(pool.retain(1), Error);   // retain of a free block
  EXPECT_THROW(pool.release(9), Error);
  EXPECT_EQ(pool.allocate(), 1);  // freed block is reused first
  EXPECT_EQ(pool.allocate(), 3);
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_THROW(BlockPool(0), Error);
}

TEST(BatchBuilder, PacksChunksAndDecode) {
  Sequence a, b;
  a.tokens = {5, 6, 7, 8, 9};
  a.num_computed = 2;  // chunk continues at position 2
  a.blocks = {3, 1};
  b.tokens = {1, 2, 3};
  b.num_computed = 2;  // decode of the last token
  b.blocks = {0};
  const auto batch = build_batch({{&a, 2, false}, {&b, 1, true}}, 4);
  ASSERT_EQ(batch.num_tokens(), 3);
  const int32_t* ids = batch.input_ids.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(ids, ids + 3), (std::vector<int32_t>{7, 8, 3}));
  const int32_t* slots = batch.slots.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(slots, slots + 3), (std::vector<int32_t>{14, 15, 2}));
  const int32_t* kvl = batch.attn.kv_len.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(kvl, kvl + 3), (std::vector<int32_t>{3, 4, 3}));
  EXPECT_EQ(batch.attn.block_tables.shape(), (Shape{2, 2}));
  EXPECT_EQ(batch.logit_rows.size(0), 1);
  const int32_t* cu = batch.attn.cu_seqlens.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(cu, cu + 3), (std::vector<int32_t>{0, 2, 3}));
  const int32_t* skv = batch.attn.seq_kv_len.data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(skv, skv + 2), (std::vector<int32_t>{4, 3}));
  EXPECT_EQ(batch.attn.max_q_len, 2);
  EXPECT_EQ(batch.attn.max_kv_len, 4);
  EXPECT_EQ(build_batch({{&a, 2, false}}, 4, 5).attn.block_tables.shape(), (Shape{1, 5}));
  EXPECT_THROW(build_batch({{&a, 2, false}}, 4, 1), Error);
  EXPECT_EQ(batch.logit_rows.data<int32_t>()[0], 2);
  b.blocks.clear();
  EXPECT_THROW(build_batch({{&b, 1, true}}, 4), Error);  // no block for the position
}

}  // namespace
}  // namespace kiln::runtime
