// Timeline of the batch-1 decode GEMV chain, from per-CTA timestamps (cuda::gemv_traced): where
// the ~2 µs per dependent kernel goes — the dependency resolution (previous grid's last exit →
// this grid's first PDL-wait return), the work after the wait, the tail, and how the CTAs that
// became resident early (beside the previous kernel) are spread over the SMs. Printed for the
// A/B of launch-shape ideas; asserted only for consistency of the timestamps themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
using cu::Epilogue;

struct Cta {
  uint64_t entry, sm, waited, exit;
};

struct KernelTimes {
  uint64_t first_entry = ~0ull, first_wait = ~0ull, last_exit = 0;
  std::vector<uint64_t> exits;
  int max_per_sm = 0, sms = 0;
};

KernelTimes summarize(const std::vector<Cta>& ctas) {
  KernelTimes k;
  std::map<uint64_t, int> per_sm;
  for (const Cta& c : ctas) {
    k.first_entry = std::min(k.first_entry, c.entry);
    k.first_wait = std::min(k.first_wait, c.waited);
    k.last_exit = std::max(k.last_exit, c.exit);
    k.exits.push_back(c.exit);
    ++per_sm[c.sm];
  }
  std::sort(k.exits.begin(), k.exits.end());
  for (const auto& [sm, n] : per_sm) k.max_per_sm = std::max(k.max_per_sm, n);
  k.sms = static_cast<int>(per_sm.size());
  return k;
}

TEST(GemvTraceGpu, DecodeChainTimeline) {
  KILN_SKIP_WITHOUT_GPU();
  using T = __half;
  constexpr int kLayers = 8;
  struct Shape {
    int64_t m, k;
    Epilogue epi;
    const char* name;
  };
  const Shape shapes[] = {{4800, 1600, Epilogue::kBias, "qkv"},
                          {1600, 1600, Epilogue::kBias, "out"},
                          {6400, 1600, Epilogue::kBiasGelu, "fc1"},
                          {1600, 6400, Epilogue::kBias, "fc2"}};
  std::vector<DeviceBuffer<T>> w, b;
  std::vector<DeviceBuffer<unsigned long long>> trace;
  for (int l = 0; l < kLayers; ++l)
    for (int j = 0; j < 4; ++j) {
      const Shape& sh = shapes[j];
      w.emplace_back(to_type<T>(round_to<T>(random_vec(sh.m * sh.k, 700 + 4 * l + j, 0.02f))));
      b.emplace_back(to_type<T>(round_to<T>(random_vec(sh.m, 800 + 4 * l + j, 0.1f))));
      trace.emplace_back(static_cast<size_t>((sh.m + 15) / 16 * 4));
    }
  cudaStream_t s;
  cuda_ok(cudaStreamCreate(&s), "stream");
  DeviceBuffer<T> x(to_type<T>(round_to<T>(random_vec(1600, 900, 1.f))));
  DeviceBuffer<T> qkv(4800), h(1600), inner(6400);
  auto chain = [&](bool traced) {
    for (int l = 0; l < kLayers; ++l)
      for (int j = 0; j < 4; ++j) {
        const Shape& sh = shapes[j];
        const int g = 4 * l + j;
        const T* in = j == 0 ? x.get() : j == 1 ? qkv.get() : j == 2 ? h.get() : inner.get();
        T* out = j == 0 ? qkv.get() : j == 1 ? h.get() : j == 2 ? inner.get() : x.get();
        const bool ran =
            traced ? cu::gemv_traced<T, T>(out, in, w[g].get(), b[g].get(), 1, sh.m, sh.k, sh.epi,
                                           s, trace[g].get())
                   : cu::gemv<T, T>(out, in, w[g].get(), b[g].get(), 1, sh.m, sh.k, sh.epi, s);
        ASSERT_TRUE(ran);
      }
  };
  for (int rep = 0; rep < 3; ++rep) chain(false);
  const double plain_us = time_us(s, 20, [&](int) { chain(false); }) / kLayers;
  const double traced_us = time_us(s, 20, [&](int) { chain(true); }) / kLayers;
  cuda_ok(cudaStreamSynchronize(s), "chain");
  std::printf("8-layer chain: %.2f us per layer plain, %.2f traced (timestamps of the last run)\n",
              plain_us, traced_us);

  std::vector<KernelTimes> k;
  for (int g = 0; g < 4 * kLayers; ++g) {
    const auto raw = trace[g].download();
    std::vector<Cta> ctas;
    for (size_t i = 0; i + 3 < raw.size(); i += 4) {
      const Cta c{raw[i], raw[i + 1], raw[i + 2], raw[i + 3]};
      ASSERT_GT(c.entry, 0u) << "kernel " << g << " CTA " << i / 4 << " never ran";
      ASSERT_LE(c.entry, c.waited);
      ASSERT_LE(c.waited, c.exit);
      ctas.push_back(c);
    }
    k.push_back(summarize(ctas));
  }
  // Per GEMV kind, averaged over layers 1..7 (µs): span = its share of the chain (previous
  // kernel's last exit → its own last exit), resolve = previous last exit → its first wait
  // return, early = CTAs resident before the previous kernel ended (their entry is earlier),
  // work = first wait return → last exit, tail = last exit − median exit.
  std::printf("  kind  span_us  resolve_us  work_us  tail_us  early_entry_us  max_cta/SM  SMs\n");
  for (int j = 0; j < 4; ++j) {
    double span = 0, resolve = 0, work = 0, tail = 0, early = 0, per_sm = 0, sms = 0;
    int cnt = 0;
    for (int l = 1; l < kLayers; ++l) {
      const KernelTimes& c = k[4 * l + j];
      const KernelTimes& p = k[4 * l + j - 1];
      span += static_cast<double>(c.last_exit - p.last_exit) * 1e-3;
      resolve += (static_cast<double>(c.first_wait) - static_cast<double>(p.last_exit)) * 1e-3;
      work += static_cast<double>(c.last_exit - c.first_wait) * 1e-3;
      tail += static_cast<double>(c.last_exit - c.exits[c.exits.size() / 2]) * 1e-3;
      early += (static_cast<double>(p.last_exit) - static_cast<double>(c.first_entry)) * 1e-3;
      per_sm += c.max_per_sm;
      sms += c.sms;
      ++cnt;
    }
    std::printf("  %-4s %8.2f %11.2f %8.2f %8.2f %15.2f %11.1f %4.0f\n", shapes[j].name, span / cnt,
                resolve / cnt, work / cnt, tail / cnt, early / cnt, per_sm / cnt, sms / cnt);
  }
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace kiln::test
