// Paged attention against a dense reference: sequences of different lengths scattered over
// shuffled blocks, causal prefill, chunked prefill, decode, and GQA/MQA head sharing; non-causal
// attention (encoder self-attention, cross-attention over many blocks) and T5's relative position
// bias, causal or not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

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
  Tensor k_pool =
      Tensor::zeros({num_blocks, p.kv_heads, p.block_size, p.head_dim}, DType::kFloat32);
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
  {  // The same through paged_attention_append (store this step's K/V and attend) on fresh pools.
    Tensor k2 = Tensor::zeros(k_pool.shape(), DType::kFloat32);
    Tensor v2 = Tensor::zeros(k_pool.shape(), DType::kFloat32);
    Tensor out2 = Tensor::empty({total, qc}, DType::kFloat32);
    ops::paged_attention_append(qkv.slice(1, 0, qc), qkv.slice(1, qc, qc + kc),
                                qkv.slice(1, qc + kc, qc + 2 * kc), test::int_tensor(slots), k2, v2,
                                meta, scale, out2, ctx);
    auto same = [](const Tensor& x, const Tensor& y) {
      return std::memcmp(x.data<float>(), y.data<float>(), x.numel() * sizeof(float)) == 0;
    };
    EXPECT_TRUE(same(out, out2));
    EXPECT_TRUE(same(k_pool, k2));
    EXPECT_TRUE(same(v_pool, v2));
    Tensor bad = test::int_tensor(std::vector<int32_t>(slots.begin(), slots.end() - 1));
    EXPECT_THROW(ops::paged_attention_append(qkv.slice(1, 0, qc), qkv.slice(1, qc, qc + kc),
                                             qkv.slice(1, qc + kc, qc + 2 * kc), bad, k2, v2, meta,
                                             scale, out2, ctx),
                 Error);
  }

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
    EXPECT_LT(test::rel_error(dout.data<float>() + s * qc, ref.data() + last_rows[s] * qc, qc),
              1e-5);
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

// ---- non-causal attention and relative position bias --------------------------------------

struct Seq {
  int q_len, kv_len;  // query rows this step (the last q_len positions); keys in all
};

// K/V of every sequence written to shuffled blocks of a pool, the step's query rows and metadata.
struct Batch {
  std::vector<Seq> seqs;
  int n = 0, max_blocks = 0;
  Tensor q, k_dense, v_dense;  // [n, heads * d]; [sum kv_len, kv_heads * d] each
  std::vector<int> kv_start;   // first row of each sequence in k_dense / v_dense
  Tensor k_pool, v_pool;
  ops::AttentionMeta meta;
};

Batch make_batch(const Params& p, const std::vector<Seq>& seqs, bool causal, uint64_t seed) {
  Batch b;
  b.seqs = seqs;
  int total_kv = 0, total_blocks = 0;
  for (const Seq& s : seqs) {
    b.kv_start.push_back(total_kv);
    total_kv += s.kv_len;
    b.n += s.q_len;
    const int nb = (s.kv_len + p.block_size - 1) / p.block_size;
    b.max_blocks = std::max(b.max_blocks, nb);
    total_blocks += nb;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::shuffle(ids.begin(), ids.end(), rng);
  const int S = static_cast<int>(seqs.size());
  std::vector<int32_t> tables(S * b.max_blocks, 0), slots, token_seq, kv_len, cu{0}, seq_kv;
  size_t next = 0;
  for (int s = 0; s < S; ++s) {
    for (int blk = 0; blk < (seqs[s].kv_len + p.block_size - 1) / p.block_size; ++blk)
      tables[s * b.max_blocks + blk] = ids[next++];
    for (int j = 0; j < seqs[s].kv_len; ++j)
      slots.push_back(tables[s * b.max_blocks + j / p.block_size] * p.block_size +
                      j % p.block_size);
    for (int i = 0; i < seqs[s].q_len; ++i) {
      token_seq.push_back(s);
      kv_len.push_back(causal ? seqs[s].kv_len - seqs[s].q_len + i + 1 : seqs[s].kv_len);
    }
    cu.push_back(cu.back() + seqs[s].q_len);
    seq_kv.push_back(seqs[s].kv_len);
  }
  const int qc = p.heads * p.head_dim, kc = p.kv_heads * p.head_dim;
  b.q = test::random_tensor({b.n, qc}, seed + 1);
  b.k_dense = test::random_tensor({total_kv, kc}, seed + 2);
  b.v_dense = test::random_tensor({total_kv, kc}, seed + 3);
  // Random pools: blocks nobody owns hold garbage that must never be read.
  b.k_pool = test::random_tensor({num_blocks, p.kv_heads, p.block_size, p.head_dim}, seed + 4);
  b.v_pool = test::random_tensor(b.k_pool.shape(), seed + 5);
  ExecContext ctx;
  ops::kv_cache_write(b.k_dense, b.v_dense, b.k_pool, b.v_pool, test::int_tensor(slots), ctx);
  Tensor t = test::int_tensor(tables);
  b.meta.block_tables = t.view({S, b.max_blocks});
  b.meta.token_seq = test::int_tensor(token_seq);
  b.meta.kv_len = test::int_tensor(kv_len);
  b.meta.cu_seqlens = test::int_tensor(cu);
  b.meta.seq_kv_len = test::int_tensor(seq_kv);
  b.meta.causal = causal;
  for (const Seq& s : seqs) {
    b.meta.max_q_len = std::max<int64_t>(b.meta.max_q_len, s.q_len);
    b.meta.max_kv_len = std::max<int64_t>(b.meta.max_kv_len, s.kv_len);
  }
  return b;
}

// Naive dense attention in double: query row i of a sequence sits at position kv_len - q_len + i;
// bias (may be null) is [heads, 2R + 1].
std::vector<float> reference(const Params& p, const Batch& b, float scale, bool causal,
                             const float* bias, int radius) {
  const int qc = p.heads * p.head_dim, kc = p.kv_heads * p.head_dim;
  std::vector<float> ref(static_cast<size_t>(b.n) * qc);
  const float* q = b.q.data<float>();
  const float* k = b.k_dense.data<float>();
  const float* v = b.v_dense.data<float>();
  int row = 0;
  for (size_t s = 0; s < b.seqs.size(); ++s) {
    const Seq sq = b.seqs[s];
    for (int i = 0; i < sq.q_len; ++i, ++row) {
      const int pos = sq.kv_len - sq.q_len + i;
      const int nk = causal ? pos + 1 : sq.kv_len;
      for (int h = 0; h < p.heads; ++h) {
        const int kh = h / (p.heads / p.kv_heads);
        std::vector<double> w(nk);
        double mx = -1e300, sum = 0;
        for (int j = 0; j < nk; ++j) {
          double d = 0;
          const float* kr = k + (b.kv_start[s] + j) * kc + kh * p.head_dim;
          for (int x = 0; x < p.head_dim; ++x)
            d += double(q[row * qc + h * p.head_dim + x]) * kr[x];
          w[j] = d * scale;
          if (bias)
            w[j] += bias[h * (2 * radius + 1) + std::clamp(j - pos, -radius, radius) + radius];
          mx = std::max(mx, w[j]);
        }
        for (double& x : w) sum += (x = std::exp(x - mx));
        for (int x = 0; x < p.head_dim; ++x) {
          double o = 0;
          for (int j = 0; j < nk; ++j)
            o += w[j] / sum * v[(b.kv_start[s] + j) * kc + kh * p.head_dim + x];
          ref[static_cast<size_t>(row) * qc + h * p.head_dim + x] = static_cast<float>(o);
        }
      }
    }
  }
  return ref;
}

enum class Bias { kNone, kSmall, kWide };  // radius 3 (distances clamp) or wider than any length

void check_variant(const Params& p, const std::vector<Seq>& seqs, bool causal, Bias bias_kind,
                   uint64_t seed) {
  ExecContext ctx;
  Batch b = make_batch(p, seqs, causal, seed);
  const int radius = bias_kind == Bias::kSmall ? 3 : 400;
  Tensor bias;
  if (bias_kind != Bias::kNone)
    bias = test::random_tensor({p.heads, 2 * radius + 1}, seed + 9, 2.f);
  const float scale = 1.f / std::sqrt(float(p.head_dim));
  Tensor out = Tensor::empty({b.n, p.heads * p.head_dim}, DType::kFloat32);
  ops::paged_attention(b.q, b.k_pool, b.v_pool, b.meta, scale, out, ctx, bias);
  const std::vector<float> ref =
      reference(p, b, scale, causal, bias.defined() ? bias.data<float>() : nullptr, radius);
  EXPECT_LT(test::rel_error(out.data<float>(), ref.data(), static_cast<int64_t>(ref.size())), 1e-5)
      << (causal ? "causal" : "non-causal") << " bias " << static_cast<int>(bias_kind);
}

class PagedAttentionVariants : public ::testing::TestWithParam<Params> {};

// Encoder self-attention: ragged packed sequences, every row sees its whole sequence.
TEST_P(PagedAttentionVariants, EncoderNonCausal) {
  const std::vector<Seq> seqs = {{1, 1}, {7, 7}, {20, 20}, {33, 33}, {2, 2}};
  for (Bias bk : {Bias::kNone, Bias::kSmall, Bias::kWide})
    check_variant(GetParam(), seqs, false, bk, 21);
}

// Cross-attention: 1..3 decoder rows over encoder K/V of up to 300 keys (many blocks).
TEST_P(PagedAttentionVariants, CrossAttention) {
  const std::vector<Seq> seqs = {{1, 300}, {3, 17}, {2, 129}, {1, 1}, {3, 3}, {1, 64}};
  for (Bias bk : {Bias::kNone, Bias::kSmall, Bias::kWide})
    check_variant(GetParam(), seqs, false, bk, 31);
}

// Decoder self-attention with T5's bias: full prefill, chunked prefill and decode rows.
TEST_P(PagedAttentionVariants, CausalBias) {
  const std::vector<Seq> seqs = {{9, 9}, {5, 23}, {1, 40}, {1, 1}, {12, 70}};
  for (Bias bk : {Bias::kSmall, Bias::kWide}) check_variant(GetParam(), seqs, true, bk, 41);
  const std::vector<Seq> decode = {{1, 2}, {1, 35}, {1, 300}};
  check_variant(GetParam(), decode, true, Bias::kSmall, 51);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionVariants,
                         ::testing::Values(Params{4, 4, 8, 16}, Params{3, 3, 9, 5},
                                           Params{8, 2, 16, 4}, Params{6, 1, 5, 7}));

TEST(PagedAttentionErrors, BadBiasThrows) {
  ExecContext ctx;
  const Params p{4, 2, 8, 4};
  Batch b = make_batch(p, {{2, 5}, {1, 3}}, false, 61);
  Tensor out = Tensor::empty({b.n, p.heads * p.head_dim}, DType::kFloat32);
  const auto call = [&](const Tensor& bias, const ops::AttentionMeta& m) {
    ops::paged_attention(b.q, b.k_pool, b.v_pool, m, 1.f, out, ctx, bias);
  };
  EXPECT_NO_THROW(call(test::random_tensor({4, 7}, 1), b.meta));
  EXPECT_THROW(call(test::random_tensor({3, 7}, 1), b.meta), Error);     // heads
  EXPECT_THROW(call(test::random_tensor({4, 6}, 1), b.meta), Error);     // even width
  EXPECT_THROW(call(test::random_tensor({28}, 1), b.meta), Error);       // 1-D
  EXPECT_THROW(call(test::random_tensor({1, 4, 7}, 1), b.meta), Error);  // 3-D
  EXPECT_THROW(call(test::random_tensor({4, 7}, 1).to(DType::kFloat16), b.meta), Error);  // dtype
  EXPECT_THROW(call(Tensor::zeros({4, 7}, DType::kInt32), b.meta), Error);
  EXPECT_THROW(call(test::random_tensor({4, 14}, 1).slice(1, 0, 7), b.meta), Error);  // strided
  ops::AttentionMeta m = b.meta;
  m.cu_seqlens = Tensor();  // the bias needs the query positions
  EXPECT_THROW(call(test::random_tensor({4, 7}, 1), m), Error);
  m = b.meta;
  m.seq_kv_len = test::int_tensor({5});
  EXPECT_THROW(call(test::random_tensor({4, 7}, 1), m), Error);
  m = b.meta;
  m.seq_kv_len = test::int_tensor({1, 3});  // fewer keys than query rows
  EXPECT_THROW(call(test::random_tensor({4, 7}, 1), m), Error);
  m = b.meta;
  m.cu_seqlens = test::int_tensor({0, 2, 2});  // does not cover the 3 tokens
  EXPECT_THROW(call(test::random_tensor({4, 7}, 1), m), Error);
}

}  // namespace
}  // namespace kiln
