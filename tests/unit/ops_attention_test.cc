// Paged attention against a dense reference: sequences of different lengths scattered over
// shuffled blocks, causal prefill, chunked prefill, decode, and GQA/MQA head sharing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace kiln {
namespace {

struct Params {
  int heads, kv_heads, head_dim, block_size;
};

class PagedAttention : public ::testing::TestWithParam<Params> {};

TEST_P(PagedAttention, MatchesDenseCausal) {
  const Params p = GetParam();
  ExecContext ctx;
  const std::vector<int> lens = {1, 5, 17, 40};
  const int num_blocks = 64;
  std::vector<int32_t> free(num_blocks);
  std::iota(free.begin(), free.end(), 0);
  std::mt19937 rng(3);
  std::shuffle(free.begin(), free.end(), rng);
  const int max_blocks = (40 + p.block_size - 1) / p.block_size;
  Tensor tables = Tensor::zeros({4, max_blocks}, DType::kInt32);
  size_t next = 0;
  for (int s = 0; s < 4; ++s)
    for (int b = 0; b < (lens[s] + p.block_size - 1) / p.block_size; ++b)
      tables.data<int32_t>()[s * max_blocks + b] = free[next++];

  const int total = std::accumulate(lens.begin(), lens.end(), 0);
  const int qc = p.heads * p.head_dim, kc = p.kv_heads * p.head_dim;
  Tensor qkv = test::random_tensor({total, qc + 2 * kc}, 11);
  std::vector<int32_t> seq, pos, slots, kvl;
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < lens[s]; ++i) {
      seq.push_back(s);
      pos.push_back(i);
      kvl.push_back(i + 1);
      slots.push_back(tables.data<int32_t>()[s * max_blocks + i / p.block_size] * p.block_size +
                      i % p.block_size);
    }
  Tensor k_pool = Tensor::zeros({num_blocks, p.kv_heads, p.block_size, p.head_dim}, DType::kFloat32);
  Tensor v_pool = Tensor::zeros(k_pool.shape(), DType::kFloat32);
  // Write K/V in two chunks (chunked prefill), attend in one go.
  const int half = total / 2;
  for (auto [b, e] : {std::pair{0, half}, {half, total}}) {
    Tensor rows = qkv.slice(0, b, e);
    ops::kv_cache_write(rows.slice(1, qc, qc + kc), rows.slice(1, qc + kc, qc + 2 * kc), k_pool,
                        v_pool, test::int_tensor({slots.begin() + b, slots.begin() + e}), ctx);
  }
  Tensor out = Tensor::empty({total, qc}, DType::kFloat32);
  const float scale = 1.f / std::sqrt(float(p.head_dim));
  ops::AttentionMeta meta;
  meta.block_tables = tables;
  meta.token_seq = test::int_tensor(seq);
  meta.kv_len = test::int_tensor(kvl);
  ops::paged_attention(qkv.slice(1, 0, qc), k_pool, v_pool, meta, scale, out, ctx);

  std::vector<float> ref(total * qc);
  const float* a = qkv.data<float>();
  const int row = qc + 2 * kc;
  int start = 0;
  for (int s = 0; s < 4; ++s) {
    for (int i = 0; i < lens[s]; ++i)
      for (int h = 0; h < p.heads; ++h) {
        const int kh = h / (p.heads / p.kv_heads);
        std::vector<double> w(i + 1);
        double mx = -1e30, sum = 0;
        for (int j = 0; j <= i; ++j) {
          double d = 0;
          for (int x = 0; x < p.head_dim; ++x)
            d += double(a[(start + i) * row + h * p.head_dim + x]) *
                 a[(start + j) * row + qc + kh * p.head_dim + x];
          w[j] = d * scale;
          mx = std::max(mx, w[j]);
        }
        for (double& v : w) sum += (v = std::exp(v - mx));
        for (int x = 0; x < p.head_dim; ++x) {
          double o = 0;
          for (int j = 0; j <= i; ++j)
            o += w[j] / sum * a[(start + j) * row + qc + kc + kh * p.head_dim + x];
          ref[(start + i) * qc + h * p.head_dim + x] = static_cast<float>(o);
        }
      }
    start += lens[s];
  }
  EXPECT_LT(test::rel_error(out.data<float>(), ref.data(), total * qc), 1e-5);

  // Decode: one new token per sequence sees everything written so far.
  std::vector<int32_t> dseq = {0, 1, 2, 3}, dkvl;
  std::vector<int32_t> last_rows;
  start = 0;
  for (int s = 0; s < 4; ++s) {
    dkvl.push_back(lens[s]);
    start += lens[s];
    last_rows.push_back(start - 1);
  }
  Tensor q_last = Tensor::empty({4, qc}, DType::kFloat32);
  Tensor qdense = qkv.slice(1, 0, qc).contiguous();
  ops::gather_rows(qdense, test::int_tensor(last_rows), q_last, ctx);
  Tensor dout = Tensor::empty({4, qc}, DType::kFloat32);
  ops::AttentionMeta dmeta;
  dmeta.block_tables = tables;
  dmeta.token_seq = test::int_tensor(dseq);
  dmeta.kv_len = test::int_tensor(dkvl);
  ops::paged_attention(q_last, k_pool, v_pool, dmeta, scale, dout, ctx);
  for (int s = 0; s < 4; ++s)
    EXPECT_LT(test::rel_error(dout.data<float>() + s * qc, ref.data() + last_rows[s] * qc, qc), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttention,
                         ::testing::Values(Params{4, 4, 8, 16}, Params{3, 3, 9, 5},
                                           Params{8, 2, 16, 4}, Params{6, 1, 8, 7}));

TEST(PagedAttentionErrors, BadMetadataThrows) {
  ExecContext ctx;
  Tensor k_pool = Tensor::zeros({2, 1, 4, 8}, DType::kFloat32), v_pool = k_pool.to(DType::kFloat32);
  Tensor q = test::random_tensor({1, 8}, 1), out = Tensor::empty({1, 8}, DType::kFloat32);
  Tensor tables = test::int_tensor({0, 1}).view({1, 2});
  const auto meta = [](Tensor t, std::vector<int32_t> seq, std::vector<int32_t> len) {
    ops::AttentionMeta m;
    m.block_tables = t;
    m.token_seq = test::int_tensor(seq);
    m.kv_len = test::int_tensor(len);
    return m;
  };
  EXPECT_THROW(ops::paged_attention(q, k_pool, v_pool, meta(tables, {1}, {1}), 1.f, out, ctx),
               Error);  // bad sequence
  EXPECT_THROW(ops::paged_attention(q, k_pool, v_pool, meta(tables, {0}, {9}), 1.f, out, ctx),
               Error);  // longer than the table
  Tensor bad_tables = test::int_tensor({0, 7}).view({1, 2});
  EXPECT_THROW(ops::paged_attention(q, k_pool, v_pool, meta(bad_tables, {0}, {6}), 1.f, out, ctx),
               Error);  // block outside the pool
  Tensor kv = test::random_tensor({1, 8}, 2);
  EXPECT_THROW(ops::kv_cache_write(kv, kv, k_pool, v_pool, test::int_tensor({8}), ctx), Error);
}

}  // namespace
}  // namespace kiln
