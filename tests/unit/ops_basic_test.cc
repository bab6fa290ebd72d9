#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace kiln {
namespace {

using test::random_tensor;
using test::rel_error;

// copy_blocks: every (src, dst) pair in every pool, nothing else; bad arguments throw.
TEST(Ops, CopyBlocksCopiesEveryPool) {
  ExecContext ctx;
  const int64_t block_floats = 6, num_blocks = 5;
  Tensor a = random_tensor({num_blocks, block_floats}, 1),
         b = random_tensor({num_blocks, block_floats}, 2);
  const std::vector<float> a0(a.data<float>(), a.data<float>() + a.numel()),
      b0(b.data<float>(), b.data<float>() + b.numel());  // copies before the op
  Tensor pools = Tensor::empty({2}, DType::kInt64);
  pools.data<int64_t>()[0] = reinterpret_cast<int64_t>(a.raw());
  pools.data<int64_t>()[1] = reinterpret_cast<int64_t>(b.raw());
  Tensor pairs = Tensor::empty({2, 2}, DType::kInt32);
  const int32_t pv[] = {0, 3, 4, 1};  // block 0 -> 3, block 4 -> 1
  std::copy(pv, pv + 4, pairs.data<int32_t>());
  ops::copy_blocks(pools, pairs, block_floats * 4, ctx);
  for (const auto& [t, t0] : {std::pair{&a, &a0}, std::pair{&b, &b0}})
    for (int64_t blk = 0; blk < num_blocks; ++blk)
      for (int64_t j = 0; j < block_floats; ++j) {
        const int64_t from = blk == 3 ? 0 : blk == 1 ? 4 : blk;
        EXPECT_EQ(t->data<float>()[blk * block_floats + j], (*t0)[from * block_floats + j]);
      }
  Tensor bad_pairs = Tensor::empty({2, 3}, DType::kInt32);
  EXPECT_THROW(ops::copy_blocks(pools, bad_pairs, 24, ctx), Error);
  EXPECT_THROW(ops::copy_blocks(pairs, pairs, 24, ctx), Error);
}

TEST(Ops, LinearMatchesNaive) {
  ExecContext ctx;
  for (auto [n, m, k] :
       {std::tuple{1, 7, 5}, {5, 9, 37}, {8, 40, 64}, {13, 33, 17}, {64, 96, 48}}) {
    Tensor x = random_tensor({n, k}, 1), w = random_tensor({m, k}, 2), b = random_tensor({m}, 3);
    Tensor out = Tensor::empty({n, m}, DType::kFloat32);
    ops::linear(x, w, b, out, ctx);
    std::vector<float> ref(n * m);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) {
        double s = b.data<float>()[j];
        for (int p = 0; p < k; ++p)
          s += double(x.data<float>()[i * k + p]) * w.data<float>()[j * k + p];
        ref[i * m + j] = static_cast<float>(s);
      }
    EXPECT_LT(rel_error(out.data<float>(), ref.data(), n * m), 1e-6);
  }
}

TEST(Ops, LinearRejectsBadShapes) {
  ExecContext ctx;
  Tensor x = random_tensor({2, 4}, 1), w = random_tensor({3, 5}, 2);
  Tensor out = Tensor::empty({2, 3}, DType::kFloat32);
  EXPECT_THROW(ops::linear(x, w, Tensor(), out, ctx), Error);
  Tensor xh = x.to(DType::kFloat16), w2 = random_tensor({3, 4}, 2);
  EXPECT_THROW(ops::linear(xh, w2, Tensor(), out, ctx), Error);
}

TEST(Ops, LayerNormMatchesNaive) {
  ExecContext ctx;
  const int rows = 9, d = 37;
  Tensor x = random_tensor({rows, d}, 4, 3.f), w = random_tensor({d}, 5), b = random_tensor({d}, 6);
  for (int i = 0; i < rows * d; ++i) x.data<float>()[i] += 10.f;  // large mean: needs two-pass
  Tensor out = Tensor::empty({rows, d}, DType::kFloat32);
  ops::layer_norm(x, w, b, 1e-5f, out, ctx);
  std::vector<float> ref(rows * d);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int j = 0; j < d; ++j) mean += x.data<float>()[r * d + j];
    mean /= d;
    for (int j = 0; j < d; ++j) var += std::pow(x.data<float>()[r * d + j] - mean, 2);
    var /= d;
    for (int j = 0; j < d; ++j)
      ref[r * d + j] = static_cast<float>((x.data<float>()[r * d + j] - mean) /
                                              std::sqrt(var + 1e-5) * w.data<float>()[j] +
                                          b.data<float>()[j]);
  }
  EXPECT_LT(rel_error(out.data<float>(), ref.data(), rows * d), 1e-6);
}

// linear_add_layer_norm is linear into tmp then add_layer_norm (the CPU path composes them):
// the same residual and normed rows bit for bit; inputs that overlap or do not chain throw.
TEST(Ops, LinearAddLayerNormEqualsLinearThenAddLayerNorm) {
  ExecContext ctx;
  const int n = 3, k = 24, m = 20;
  Tensor x = random_tensor({n, k}, 11), w = random_tensor({m, k}, 12), b = random_tensor({m}, 13);
  Tensor lw = random_tensor({m}, 14), lb = random_tensor({m}, 15);
  for (const bool bias : {true, false}) {
    Tensor h1 = random_tensor({n, m}, 16, 3.f), h2 = random_tensor({n, m}, 16, 3.f);
    Tensor tmp = Tensor::empty({n, m}, DType::kFloat32),
           n1 = Tensor::empty({n, m}, DType::kFloat32), n2 = Tensor::empty({n, m}, DType::kFloat32);
    const Tensor bb = bias ? b : Tensor();
    ops::linear(x, w, bb, tmp, ctx);
    ops::add_layer_norm(h1, tmp, lw, lb, 1e-5f, n1, ctx);
    ops::linear_add_layer_norm(x, w, bb, h2, lw, lb, 1e-5f, n2, tmp, ctx);
    for (int i = 0; i < n * m; ++i) {
      EXPECT_EQ(h1.data<float>()[i], h2.data<float>()[i]) << i;
      EXPECT_EQ(n1.data<float>()[i], n2.data<float>()[i]) << i;
    }
  }
  Tensor h = random_tensor({n, m}, 17), tmp = Tensor::empty({n, m}, DType::kFloat32);
  EXPECT_THROW(ops::linear_add_layer_norm(x, w, b, h, lw, lb, 1e-5f, h, tmp, ctx), Error)
      << "normed is the residual";
  Tensor wrong = random_tensor({m, k + 1}, 18), out = Tensor::empty({n, m}, DType::kFloat32);
  EXPECT_THROW(ops::linear_add_layer_norm(x, wrong, b, h, lw, lb, 1e-5f, out, tmp, ctx), Error);
}

TEST(Ops, ActivationsAtKnownPoints) {
  ExecContext ctx;
  struct Case {
    const char* name;
    float x, y;
  };
  // Values from torch.nn.functional / transformers.activations at float64.
  const Case cases[] = {
      {"gelu", 1.f, 0.8413447460685429f},
      {"gelu_new", 1.f, 0.8411919906082768f},
      {"gelu_fast", 1.f, 0.8411919906f},
      {"quick_gelu", 1.f, 0.8457957659f},
      {"relu", -2.f, 0.f},
      {"silu", 1.f, 0.7310585786300049f},
      {"tanh", 0.5f, 0.46211715726000974f},
      {"sigmoid", 0.f, 0.5f},
      {"linear", 3.f, 3.f},
      {"mish", 1.f, 0.8650983882673103f},
      {"relu6", 7.f, 6.f},
      {"relu2", 3.f, 9.f},
      {"leaky_relu", -1.f, -0.01f},
      {"gelu_10", 20.f, 10.f},
      {"gelu_pytorch_tanh", -1.f, -0.15880800939172324f},
  };
  for (const Case& c : cases) {
    Tensor t = Tensor::empty({1, 1}, DType::kFloat32);
    t.data<float>()[0] = c.x;
    ops::activation(t, ops::activation_from_name(c.name), ctx);
    EXPECT_NEAR(t.data<float>()[0], c.y, 1e-6) << c.name;
  }
  EXPECT_THROW(ops::activation_from_name("gelu_newer"), Error);
}

TEST(Ops, EmbeddingAndGather) {
  ExecContext ctx;
  Tensor table = random_tensor({10, 4}, 7);
  Tensor ids = test::int_tensor({3, 0, 9});
  Tensor out = Tensor::empty({3, 4}, DType::kFloat32);
  ops::embedding(ids, table, out, false, ctx);
  for (int j = 0; j < 4; ++j)
    EXPECT_EQ(out.data<float>()[2 * 4 + j], table.data<float>()[9 * 4 + j]);
  ops::embedding(ids, table, out, true, ctx);
  EXPECT_EQ(out.data<float>()[0], 2 * table.data<float>()[12]);
  Tensor bad = test::int_tensor({3, 10});
  Tensor out2 = out.slice(0, 0, 2);
  EXPECT_THROW(ops::embedding(bad, table, out2, false, ctx), Error);
  Tensor neg = test::int_tensor({-1});
  Tensor out1 = Tensor::empty({1, 4}, DType::kFloat32);
  EXPECT_THROW(ops::embedding(neg, table, out1, false, ctx), Error);
  Tensor rows = test::int_tensor({2});
  ops::gather_rows(out, rows, out1, ctx);
  EXPECT_EQ(out1.data<float>()[1], out.data<float>()[9]);
  EXPECT_THROW(ops::gather_rows(out, test::int_tensor({3}), out1, ctx), Error);
}

}  // namespace
}  // namespace kiln
