// cuda::gemv_add_layer_norm (the GEMV whose epilogue adds into the residual and whose last CTA
// LayerNorms it) against the unfused kernels it replaces on the device — cuda::linear into a
// scratch, then cuda::add_layer_norm: the residual bit for bit (same two roundings), the
// normalised rows within a rounding of T (statistics summed in another order); every output
// written; the arrival counter left at zero; repeated launches reuse it. Shapes: decode batches
// 1..8, hidden sizes with and without a full last 16-row tile, bias / LN bias on and off; the
// shapes and pointers it declines (m % 8, alignment: the last CTA works on 16-byte packs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {
namespace cu = kiln::ops::cuda;

template <class T>
void check_add_norm(int64_t n, int64_t m, int64_t k, bool bias, bool ln_bias, uint64_t seed) {
  const auto w = round_to<T>(random_vec(m * k, seed, 1.f / std::sqrt(float(k))));
  const auto x = round_to<T>(random_vec(n * k, seed + 1, 1.f));
  const auto b = round_to<T>(random_vec(m, seed + 2, 0.5f));
  const auto h0 = round_to<T>(random_vec(n * m, seed + 3, 3.f));
  const auto lw = round_to<T>(random_vec(m, seed + 4, 1.f));
  const auto lb = round_to<T>(random_vec(m, seed + 5, 0.5f));
  DeviceBuffer<T> dw(to_type<T>(w)), dx(to_type<T>(x)), db(to_type<T>(b)), dlw(to_type<T>(lw)),
      dlb(to_type<T>(lb));
  DeviceBuffer<T> h_ref(to_type<T>(h0)), h_got(to_type<T>(h0)), tmp(n * m), n_ref(n * m),
      n_got(n * m);
  DeviceBuffer<unsigned> counter(std::vector<unsigned>{0u});
  const T* bp = bias ? db.get() : nullptr;
  const T* lbp = ln_bias ? dlb.get() : nullptr;
  const float eps = 1e-5f;
  cu::linear<T, T>(tmp.get(), dx.get(), dw.get(), bp, n, m, k,
                   bias ? cu::Epilogue::kBias : cu::Epilogue::kNone, nullptr, nullptr, 0, nullptr);
  cu::add_layer_norm<T>(h_ref.get(), n_ref.get(), tmp.get(), dlw.get(), lbp, n, m, eps, nullptr);
  cuda_ok(cudaMemset(n_got.get(), 0xff, n * m * sizeof(T)), "poison");
  for (int rep = 0; rep < 2; ++rep) {  // the second launch reuses the (reset) counter
    if (rep == 1) h_got.upload(to_type<T>(h0));
    ASSERT_TRUE(cu::gemv_add_layer_norm<T>(h_got.get(), n_got.get(), dx.get(), dw.get(), bp,
                                           dlw.get(), lbp, eps, n, m, k, counter.get(), nullptr));
    cuda_ok(cudaGetLastError(), "launch");
    EXPECT_EQ(counter.download()[0], 0u) << "counter not left at zero";
  }
  const std::vector<float> hr = to_float(h_ref.download()), hg = to_float(h_got.download());
  const std::vector<float> nr = to_float(n_ref.download()), ng = to_float(n_got.download());
  EXPECT_EQ(hr, hg) << "residual n=" << n << " m=" << m << " k=" << k;
  size_t unwritten = 0;
  double worst = 0;
  for (size_t i = 0; i < ng.size(); ++i) {
    if (!std::isfinite(ng[i])) ++unwritten;
    worst = std::max(worst, std::abs(double(ng[i]) - nr[i]) / (1.0 + std::abs(double(nr[i]))));
  }
  EXPECT_EQ(unwritten, 0u);
  const double tol = std::is_same_v<T, __half> ? 2e-3 : 1.6e-2;  // ~2 ulp of T near 1
  EXPECT_LT(worst, tol) << "normed n=" << n << " m=" << m << " k=" << k;
}

TEST(GemvAddNormGpu, MatchesLinearThenAddLayerNorm) {
  KILN_SKIP_WITHOUT_GPU();
  uint64_t seed = 10;
  for (int64_t n : {1, 2, 3, 8})
    for (const auto& [m, k] : std::vector<std::pair<int64_t, int64_t>>{
             {1600, 1600}, {1600, 6400}, {1024, 4096}, {200, 72}, {40, 1600}, {72, 8}})
      for (bool bias : {true, false}) {
        const bool ln_bias = (seed % 3) != 0;
        check_add_norm<__half>(n, m, k, bias, ln_bias, seed++);
        check_add_norm<__nv_bfloat16>(n, m, k, bias, ln_bias, seed++);
      }
}

TEST(GemvAddNormGpu, DeclinesWhereTheGemvDoes) {
  KILN_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(64 * 64);
  DeviceBuffer<unsigned> counter(std::vector<unsigned>{0u});
  __half* p = buf.get();
  EXPECT_FALSE(cu::gemv_add_layer_norm<__half>(p, p, p, p, nullptr, p, nullptr, 1e-5f, 9, 16, 16,
                                               counter.get(), nullptr))
      << "n > 8";
  EXPECT_FALSE(cu::gemv_add_layer_norm<__half>(p, p, p, p, nullptr, p, nullptr, 1e-5f, 1, 16, 12,
                                               counter.get(), nullptr))
      << "k % 8";
  EXPECT_FALSE(cu::gemv_add_layer_norm<__half>(p, p, p, p, nullptr, p, nullptr, 1e-5f, 1, 16, 16,
                                               nullptr, nullptr))
      << "no counter";
  EXPECT_FALSE(cu::gemv_add_layer_norm<__half>(p, p, p, p, nullptr, p, nullptr, 1e-5f, 1, 36, 16,
                                               counter.get(), nullptr))
      << "m % 8 (the last CTA normalises 16-byte packs)";
  EXPECT_FALSE(cu::gemv_add_layer_norm<__half>(p + 1, p, p, p, nullptr, p, nullptr, 1e-5f, 1, 16,
                                               16, counter.get(), nullptr))
      << "residual not 16-byte aligned";
  float* f = reinterpret_cast<float*>(p);
  EXPECT_FALSE(cu::gemv_add_layer_norm<float>(f, f, f, f, nullptr, f, nullptr, 1e-5f, 1, 16, 16,
                                              counter.get(), nullptr))
      << "fp32";
}

}  // namespace
}  // namespace kiln::test
