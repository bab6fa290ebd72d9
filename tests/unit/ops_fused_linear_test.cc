// layer_norm_linear and linear_add (the pre-LN block's fused projections) on the CPU: equal to
// the ops they fuse, composed (layer_norm then linear (+GELU / activation); linear then add), over
// decode and prefill batch sizes, odd widths, with and without biases; bad arguments throw.
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace kiln {
namespace {

using test::random_tensor;

std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

const std::tuple<int64_t, int64_t, int64_t> kShapes[] = {  // n, out, in
    {1, 48, 32},
    {3, 72, 200},
    {8, 200, 72},
    {9, 40, 64},
    {17, 33, 24}};

TEST(OpsFusedLinear, LayerNormLinearEqualsComposition) {
  ExecContext ctx;
  for (const auto& [n, m, k] : kShapes) {
    for (int variant = 0; variant < 4; ++variant) {  // bit 0: biases; bit 1: GELU epilogue
      const bool biases = variant & 1, gelu = variant == 3;
      if (variant == 2) continue;  // GELU needs a bias
      Tensor x = random_tensor({n, k}, 1 + n, 2.f), lw = random_tensor({k}, 2),
             lb = biases ? random_tensor({k}, 3) : Tensor(), w = random_tensor({m, k}, 4, 0.2f),
             b = biases ? random_tensor({m}, 5) : Tensor();
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 5.f;  // mean far from 0
      Tensor normed = Tensor::empty({n, k}, DType::kFloat32);
      Tensor out = Tensor::empty({n, m}, DType::kFloat32);
      ops::layer_norm_linear(x, lw, lb, 1e-5f, normed, w, b, out, ctx, gelu);

      Tensor ref_normed = Tensor::empty({n, k}, DType::kFloat32);
      Tensor ref = Tensor::empty({n, m}, DType::kFloat32);
      ops::layer_norm(x, lw, lb, 1e-5f, ref_normed, ctx);
      ops::linear(ref_normed, w, b, ref, ctx, gelu);
      EXPECT_EQ(values(out), values(ref))
          << "n=" << n << " m=" << m << " k=" << k << " variant=" << variant;
      EXPECT_EQ(values(normed), values(ref_normed));  // the CPU path writes the scratch
    }
  }
}

TEST(OpsFusedLinear, LinearAddEqualsComposition) {
  ExecContext ctx;
  for (const auto& [n, m, k] : kShapes) {
    for (bool bias : {false, true}) {
      Tensor x = random_tensor({n, k}, 7 + n), w = random_tensor({m, k}, 8, 0.2f),
             b = bias ? random_tensor({m}, 9) : Tensor(), h = random_tensor({n, m}, 10);
      Tensor ref = Tensor::empty({n, m}, DType::kFloat32);
      ops::linear(x, w, b, ref, ctx);
      ops::add(h, ref, ref, ctx);
      Tensor tmp = Tensor::empty({n, m}, DType::kFloat32);
      ops::linear_add(x, w, b, h, tmp, ctx);
      EXPECT_EQ(values(h), values(ref)) << "n=" << n << " m=" << m << " k=" << k;
    }
  }
}

TEST(OpsFusedLinear, RejectsBadArguments) {
  ExecContext ctx;
  const int64_t n = 2, m = 3, k = 4;
  Tensor x = random_tensor({n, k}, 1), lw = random_tensor({k}, 2), w = random_tensor({m, k}, 3);
  Tensor normed = Tensor::empty({n, k}, DType::kFloat32),
         out = Tensor::empty({n, m}, DType::kFloat32);
  EXPECT_NO_THROW(ops::layer_norm_linear(x, lw, Tensor(), 1e-5f, normed, w, Tensor(), out, ctx));
  Tensor short_normed = Tensor::empty({n, k - 1}, DType::kFloat32);
  EXPECT_THROW(ops::layer_norm_linear(x, lw, Tensor(), 1e-5f, short_normed, w, Tensor(), out, ctx),
               Error);
  EXPECT_THROW(ops::layer_norm_linear(x, random_tensor({k + 1}, 4), Tensor(), 1e-5f, normed, w,
                                      Tensor(), out, ctx),
               Error);
  EXPECT_THROW(ops::layer_norm_linear(x, lw, Tensor(), 1e-5f, x, w, Tensor(), out, ctx),
               Error);  // normed aliases x
  EXPECT_THROW(ops::layer_norm_linear(x, lw, Tensor(), 1e-5f, normed, w, Tensor(), out, ctx,
                                      /*gelu=*/true),
               Error);  // GELU without a bias

  Tensor h = random_tensor({n, m}, 5), tmp = Tensor::empty({n, m}, DType::kFloat32);
  EXPECT_NO_THROW(ops::linear_add(x, w, Tensor(), h, tmp, ctx));
  EXPECT_THROW(ops::linear_add(x, w, Tensor(), h, h, ctx), Error);  // tmp aliases residual
  Tensor wide = Tensor::empty({n, m + 1}, DType::kFloat32);
  EXPECT_THROW(ops::linear_add(x, w, Tensor(), wide, tmp, ctx), Error);
  EXPECT_THROW(ops::linear_add(x, random_tensor({m, k + 1}, 6), Tensor(), h, tmp, ctx), Error);
}

}  // namespace
}  // namespace kiln
