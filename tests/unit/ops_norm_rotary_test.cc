// CPU rms_norm / add_rms_norm, rotary_embedding and gated_activation through the op dispatch,
// against formulas written out here.
#include <gtest/gtest.h>

#include <cmath>

#include "core/check.h"
#include "ops/ops.h"

namespace kiln::ops {
namespace {

Tensor vec(std::vector<float> v, Shape shape) {
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

TEST(OpsNorm, RmsNormMatchesFormula) {
  ExecContext ctx;
  Tensor x = vec({1, 2, 3, 4, -1, 0, 1, 2}, {2, 4}), w = vec({1, 0.5f, 2, 1}, {4});
  Tensor out = Tensor::empty({2, 4}, DType::kFloat32);
  rms_norm(x, w, 1e-6f, out, ctx);
  for (int r = 0; r < 2; ++r) {
    double ss = 0;
    for (int i = 0; i < 4; ++i) ss += std::pow(x.data<float>()[r * 4 + i], 2);
    const double inv = 1 / std::sqrt(ss / 4 + 1e-6);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(out.data<float>()[r * 4 + i], x.data<float>()[r * 4 + i] * inv * w.data<float>()[i], 1e-6);
  }
  Tensor res = vec({0, 0, 0, 0, 1, 1, 1, 1}, {2, 4});
  Tensor out2 = Tensor::empty({2, 4}, DType::kFloat32);
  add_rms_norm(res, x, w, 1e-6f, out2, ctx);
  EXPECT_FLOAT_EQ(res.data<float>()[4], 0.f);  // 1 + (-1)
  EXPECT_FLOAT_EQ(out2.data<float>()[0], out.data<float>()[0]);
  EXPECT_THROW(rms_norm(x, vec({1, 2, 3}, {3}), 1e-6f, out, ctx), Error);
}

TEST(OpsRotary, NeoxAndInterleavedPairs) {
  ExecContext ctx;
  // One token, 1 rotated head of dim 4 followed by an untouched head; position 2.
  const float th0 = 1.f, th1 = 0.01f;
  Tensor inv = vec({th0, th1}, {2});
  Tensor pos = Tensor::empty({1}, DType::kInt32);
  pos.data<int32_t>()[0] = 2;
  Tensor x = vec({1, 2, 3, 4, 5, 6, 7, 8}, {1, 8});
  rotary_embedding(x, pos, inv, 1, 4, 4, /*interleaved=*/false, 1.f, ctx);
  const float c0 = std::cos(2 * th0), s0 = std::sin(2 * th0), c1 = std::cos(2 * th1),
              s1 = std::sin(2 * th1);
  const float* v = x.data<float>();
  EXPECT_NEAR(v[0], 1 * c0 - 3 * s0, 1e-6);  // pairs (0, 2) and (1, 3)
  EXPECT_NEAR(v[2], 3 * c0 + 1 * s0, 1e-6);
  EXPECT_NEAR(v[1], 2 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(v[3], 4 * c1 + 2 * s1, 1e-6);
  EXPECT_EQ(v[4], 5.f);  // second head not rotated
  Tensor y = vec({1, 2, 3, 4}, {1, 4});
  rotary_embedding(y, pos, inv, 1, 4, 4, /*interleaved=*/true, 2.f, ctx);
  EXPECT_NEAR(y.data<float>()[0], 2 * (1 * c0 - 2 * s0), 1e-6);  // pairs (0, 1), scaled
  EXPECT_NEAR(y.data<float>()[1], 2 * (2 * c0 + 1 * s0), 1e-6);
  // Partial rotary: only the first rotary_dim dims of a head turn.
  Tensor z = vec({1, 2, 3, 4}, {1, 4});
  Tensor inv1 = vec({th0}, {1});
  rotary_embedding(z, pos, inv1, 1, 4, 2, false, 1.f, ctx);
  EXPECT_NEAR(z.data<float>()[0], 1 * c0 - 2 * s0, 1e-6);
  EXPECT_EQ(z.data<float>()[2], 3.f);
  EXPECT_THROW(rotary_embedding(z, pos, inv1, 1, 4, 3, false, 1.f, ctx), Error);  // odd dim
}

TEST(OpsGated, SiluTimesUp) {
  ExecContext ctx;
  Tensor x = vec({1, -2, 3, 0.5f}, {1, 4});
  Tensor out = Tensor::empty({1, 2}, DType::kFloat32);
  gated_activation(x, ActivationKind::kSilu, out, ctx);
  const auto silu = [](float v) { return v / (1 + std::exp(-v)); };
  EXPECT_NEAR(out.data<float>()[0], silu(1) * 3, 1e-6);
  EXPECT_NEAR(out.data<float>()[1], silu(-2) * 0.5f, 1e-6);
}

}  // namespace
}  // namespace kiln::ops
