// cuda::gemv_layer_norm_folded (LayerNorm whose affine is folded into the GEMV's weights; the row
// statistics taken inside the GEMV) against an fp64 CPU LayerNorm + linear (+ GELU) on the same
// rounded inputs: decode batches 1..8, gpt2-xl / gpt2-medium shapes and ragged small ones, x with
// a mean offset and a few massive dimensions (as GPT-2 residual streams have), bias and β on and
// off; and a printed timing of 8 gpt2-xl layers' GEMVs with the LayerNorm as the last-CTA tail of
// the residual GEMVs (main) against folded into the next GEMV (never asserted).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {
namespace cu = kiln::ops::cuda;

// The folded operands, as a loader would prepare them: w_f = W·diag(γ) rounded to T,
// c = W·β + b rounded to T, rowsum = Σ_k w_f in fp32 (of the rounded values the kernel reads).
template <class T>
struct Folded {
  std::vector<float> w, c, rowsum;
};
template <class T>
Folded<T> fold(const std::vector<float>& w, const std::vector<float>& gamma,
               const std::vector<float>& beta, const std::vector<float>& b, int64_t m, int64_t k) {
  Folded<T> f;
  f.w.resize(m * k);
  f.c.resize(m);
  f.rowsum.resize(m);
  for (int64_t r = 0; r < m; ++r) {
    double c = b.empty() ? 0.0 : b[r];
    for (int64_t i = 0; i < k; ++i) {
      f.w[r * k + i] = w[r * k + i] * gamma[i];
      c += double(w[r * k + i]) * beta[i];
    }
    f.c[r] = static_cast<float>(c);
  }
  f.w = round_to<T>(f.w);
  f.c = round_to<T>(f.c);
  for (int64_t r = 0; r < m; ++r) {
    double rs = 0;
    for (int64_t i = 0; i < k; ++i) rs += f.w[r * k + i];
    f.rowsum[r] = static_cast<float>(rs);
  }
  return f;
}

double gelu(double v) {
  return 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

template <class T>
void check_fold(int64_t n, int64_t m, int64_t k, bool bias, bool gelu_on, uint64_t seed) {
  const float eps = 1e-5f;
  const auto w = round_to<T>(random_vec(m * k, seed, 1.f / std::sqrt(float(k))));
  auto xs = random_vec(n * k, seed + 1, 1.f, 0.3f);
  if (k >= 64)
    for (int64_t i = 0; i < n; ++i) xs[i * k + 7] = 60.f, xs[i * k + k / 2] = -90.f;
  const auto x = round_to<T>(xs);
  const auto gamma = round_to<T>(random_vec(k, seed + 2, 0.2f, 1.f));
  const auto beta = round_to<T>(random_vec(k, seed + 3, 0.1f));
  const auto b = bias ? round_to<T>(random_vec(m, seed + 4, 0.5f)) : std::vector<float>();
  const Folded<T> f = fold<T>(w, gamma, beta, b, m, k);

  std::vector<float> ref(n * m);
  for (int64_t i = 0; i < n; ++i) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < k; ++j) mean += x[i * k + j];
    mean /= k;
    for (int64_t j = 0; j < k; ++j) var += (x[i * k + j] - mean) * (x[i * k + j] - mean);
    const double inv = 1 / std::sqrt(var / k + eps);
    std::vector<double> y(k);
    for (int64_t j = 0; j < k; ++j) y[j] = (x[i * k + j] - mean) * inv * gamma[j] + beta[j];
    for (int64_t r = 0; r < m; ++r) {
      double v = bias ? b[r] : 0.0;
      for (int64_t j = 0; j < k; ++j) v += double(w[r * k + j]) * y[j];
      ref[i * m + r] = static_cast<float>(gelu_on ? gelu(v) : v);
    }
  }
  DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(f.w)), dc(to_type<T>(f.c)), out(n * m);
  DeviceBuffer<float> drs(f.rowsum);
  out.poison();
  ASSERT_TRUE(cu::gemv_layer_norm_folded<T>(out.get(), dx.get(), dw.get(), dc.get(), drs.get(), eps,
                                            n, m, k, gelu_on, nullptr));
  cuda_ok(cudaDeviceSynchronize(), "gemv_layer_norm_folded");
  const auto got = to_float(out.download());
  EXPECT_EQ(count_nan(got), 0u);
  const double tol = std::is_same_v<T, __half> ? 3e-3 : 2e-2;
  EXPECT_LE(rel_error(got, ref), tol)
      << "n=" << n << " m=" << m << " k=" << k << " bias=" << bias << " gelu=" << gelu_on;
}

TEST(GemvLnFoldGpu, MatchesLayerNormThenLinear) {
  KILN_SKIP_WITHOUT_GPU();
  uint64_t seed = 40;
  for (int64_t n : {1, 2, 3, 8})
    for (const auto& [m, k] : std::vector<std::pair<int64_t, int64_t>>{
             {4800, 1600}, {6400, 1600}, {3072, 1024}, {40, 72}, {33, 8}})
      for (bool gelu_on : {false, true}) {
        const bool bias = seed % 3 != 0;
        check_fold<__half>(n, m, k, bias, gelu_on, seed++);
        check_fold<__nv_bfloat16>(n, m, k, bias, gelu_on, seed++);
      }
}

TEST(GemvLnFoldGpu, DeclinesWithoutRowSums) {
  KILN_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(64 * 64);
  __half* p = buf.get();
  EXPECT_FALSE(
      cu::gemv_layer_norm_folded<__half>(p, p, p, p, nullptr, 1e-5f, 1, 64, 64, false, nullptr));
  EXPECT_FALSE(cu::gemv_layer_norm_folded<float>(nullptr, nullptr, nullptr, nullptr, nullptr, 1e-5f,
                                                 1, 64, 64, false, nullptr));
}

// gemv_add leaves the residual bit for bit as gemv_add_layer_norm does (same epilogue, no tail).
TEST(GemvLnFoldGpu, AddOnlyMatchesTheResidualOfAddLayerNorm) {
  KILN_SKIP_WITHOUT_GPU();
  using T = __half;
  for (const auto& [n, m, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1600, 1600}, {3, 1600, 6400}, {8, 200, 72}}) {
    const auto w = random_vec(m * k, 1, 1.f / std::sqrt(float(k)));
    const auto x = random_vec(n * k, 2), b = random_vec(m, 3, 0.5f), h0 = random_vec(n * m, 4, 3.f);
    const auto lw = random_vec(m, 5, 0.1f, 1.f);
    DeviceBuffer<T> dw(to_type<T>(w)), dx(to_type<T>(x)), db(to_type<T>(b)), dlw(to_type<T>(lw));
    DeviceBuffer<T> ha(to_type<T>(h0)), hb(to_type<T>(h0)), normed(n * m);
    DeviceBuffer<unsigned> counter(std::vector<unsigned>{0u});
    ASSERT_TRUE(cu::gemv_add_layer_norm<T>(ha.get(), normed.get(), dx.get(), dw.get(), db.get(),
                                           dlw.get(), nullptr, 1e-5f, n, m, k, counter.get(),
                                           nullptr));
    ASSERT_TRUE(cu::gemv_add<T>(hb.get(), dx.get(), dw.get(), db.get(), n, m, k, nullptr));
    cuda_ok(cudaDeviceSynchronize(), "gemv_add");
    EXPECT_EQ(to_float(ha.download()), to_float(hb.download())) << "n=" << n << " m=" << m;
  }
}

// 8 gpt2-xl layers, batch 1: (a) main's decode GEMVs — QKV and fc1 on the normed rows, out and
// fc2 adding into the residual with the last CTA's LayerNorm — against (b) out and fc2 adding
// into the residual only (gemv_add) and QKV and fc1 folded (statistics of the residual inside
// the GEMV). Timing only (stand-in row sums).
TEST(GemvLnFoldGpu, TimingLayerChainFoldedVsTail) {
  KILN_SKIP_WITHOUT_GPU();
  using T = __half;
  constexpr int kLayers = 8;
  const int64_t H = 1600, F = 6400;
  std::vector<DeviceBuffer<T>> wq, wo, w1, w2, bq, bo, b1, b2, lw;
  std::vector<DeviceBuffer<float>> rq, r1;
  for (int l = 0; l < kLayers; ++l) {
    wq.emplace_back(to_type<T>(random_vec(3 * H * H, 10 + l, 0.02f)));
    wo.emplace_back(to_type<T>(random_vec(H * H, 20 + l, 0.02f)));
    w1.emplace_back(to_type<T>(random_vec(F * H, 30 + l, 0.02f)));
    w2.emplace_back(to_type<T>(random_vec(H * F, 40 + l, 0.02f)));
    bq.emplace_back(to_type<T>(random_vec(3 * H, 50 + l, 0.1f)));
    bo.emplace_back(to_type<T>(random_vec(H, 60 + l, 0.1f)));
    b1.emplace_back(to_type<T>(random_vec(F, 70 + l, 0.1f)));
    b2.emplace_back(to_type<T>(random_vec(H, 80 + l, 0.1f)));
    lw.emplace_back(to_type<T>(random_vec(H, 90 + l, 0.1f, 1.f)));
    rq.emplace_back(random_vec(3 * H, 100 + l, 1.f));
    r1.emplace_back(random_vec(F, 110 + l, 1.f));
  }
  DeviceBuffer<T> residual(to_type<T>(random_vec(H, 5, 1.f))), normed(to_type<T>(random_vec(H, 6)));
  DeviceBuffer<T> qkv(3 * H), attn(to_type<T>(random_vec(H, 7))), inner(F);
  DeviceBuffer<unsigned> counters(std::vector<unsigned>(4, 0u));
  cudaStream_t s;
  cuda_ok(cudaStreamCreate(&s), "stream");
  auto tail = [&] {
    for (int l = 0; l < kLayers; ++l) {
      cu::gemv<T, T>(qkv.get(), normed.get(), wq[l].get(), bq[l].get(), 1, 3 * H, H,
                     cu::Epilogue::kBias, s);
      cu::gemv_add_layer_norm<T>(residual.get(), normed.get(), attn.get(), wo[l].get(), bo[l].get(),
                                 lw[l].get(), nullptr, 1e-5f, 1, H, H, counters.get(), s);
      cu::gemv<T, T>(inner.get(), normed.get(), w1[l].get(), b1[l].get(), 1, F, H,
                     cu::Epilogue::kBiasGelu, s);
      cu::gemv_add_layer_norm<T>(residual.get(), normed.get(), inner.get(), w2[l].get(),
                                 b2[l].get(), lw[l].get(), nullptr, 1e-5f, 1, H, F,
                                 counters.get() + 1, s);
    }
  };
  auto folded = [&] {
    for (int l = 0; l < kLayers; ++l) {
      cu::gemv_layer_norm_folded<T>(qkv.get(), residual.get(), wq[l].get(), bq[l].get(),
                                    rq[l].get(), 1e-5f, 1, 3 * H, H, false, s);
      cu::gemv_add<T>(residual.get(), attn.get(), wo[l].get(), bo[l].get(), 1, H, H, s);
      cu::gemv_layer_norm_folded<T>(inner.get(), residual.get(), w1[l].get(), b1[l].get(),
                                    r1[l].get(), 1e-5f, 1, F, H, true, s);
      cu::gemv_add<T>(residual.get(), inner.get(), w2[l].get(), b2[l].get(), 1, H, F, s);
    }
  };
  for (int rep = 0; rep < 2; ++rep) {
    const double a = time_us(
                         s, 20, [&](int) { tail(); }, 2) /
                     kLayers;
    const double b = time_us(
                         s, 20, [&](int) { folded(); }, 2) /
                     kLayers;
    std::printf("  layer: LayerNorm as last-CTA tails %.2f us, folded into QKV/fc1 %.2f us\n", a,
                b);
  }
  cuda_ok(cudaStreamSynchronize(s), "chain");
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace kiln::test
