#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/check.h"
#include "core/tensor.h"

namespace kiln {
namespace {

TEST(Tensor, ViewSliceSelect) {
  Tensor t = Tensor::empty({2, 3, 4}, DType::kFloat32);
  float* p = t.data<float>();
  for (int i = 0; i < 24; ++i) p[i] = static_cast<float>(i);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_TRUE(t.is_contiguous());
  Tensor v = t.view({6, -1});
  EXPECT_EQ(v.shape(), (Shape{6, 4}));
  Tensor s = t.select(1);
  EXPECT_EQ(s.data<float>()[0], 12.f);
  Tensor sl = t.slice(2, 1, 3);
  EXPECT_FALSE(sl.is_contiguous());
  Tensor c = sl.contiguous();
  EXPECT_EQ(c.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(c.data<float>()[0], 1.f);
  EXPECT_EQ(c.data<float>()[1], 2.f);
  EXPECT_EQ(c.data<float>()[2], 5.f);
  EXPECT_EQ(c.data<float>()[11], 22.f);
}

TEST(Tensor, BadViewsThrow) {
  Tensor t = Tensor::empty({2, 3}, DType::kFloat32);
  EXPECT_THROW(t.view({4, 2}), Error);
  EXPECT_THROW(t.view({-1, -1}), Error);
  EXPECT_THROW(t.slice(0, 1, 3), Error);
  EXPECT_THROW(t.select(2), Error);
  EXPECT_THROW(Tensor::empty({-1}, DType::kFloat32), Error);
}

TEST(Check, MessageHasLocation) {
  try {
    KILN_CHECK(1 == 2, "value {} bad", 7);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("value 7 bad (core_tensor_test.cc:"), std::string::npos)
        << e.what();
  }
}

TEST(DType, HalfRoundTripAndRounding) {
  // Every finite half value round-trips exactly through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h) << h;
  }
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 1.0f / 4096)), 1.0f);  // ties to even
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);
  EXPECT_EQ(float_to_half(-1e-9f), 0x8000);
}

TEST(DType, BFloat16) {
  for (uint32_t b = 0; b < 0x10000; b += 7) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_bf16(f), b);
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (int i = 0; i < 1000; ++i) {
    const float f = nd(rng);
    EXPECT_NEAR(bf16_to_float(float_to_bf16(f)), f, std::fabs(f) / 128);
  }
}

TEST(DType, ConvertTensor) {
  Tensor t = Tensor::empty({5}, DType::kFloat32);
  for (int i = 0; i < 5; ++i) t.data<float>()[i] = 0.5f * i - 1.f;
  Tensor h = t.to(DType::kFloat16);
  Tensor b = h.to(DType::kBFloat16);
  Tensor f = b.to(DType::kFloat32);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.data<float>()[i], 0.5f * i - 1.f);
  EXPECT_EQ(dtype_from_name("fp16"), DType::kFloat16);
  EXPECT_THROW(dtype_from_name("float13"), Error);
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e5m2_to_float(0x3c), 1.0f);
}

}  // namespace
}  // namespace kiln
