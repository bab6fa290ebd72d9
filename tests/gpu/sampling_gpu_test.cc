// cuda::sample vs a host transcription of runtime/sampling/sampler.cc (the GPU test binary links
// only kiln_ops): greedy argmax incl. ties, repetition penalty and EOS mask on the processed
// logits, top-k=1 is greedy, seeded draws reproducible and batch-independent, draws follow the
// distribution, and top-k/top-p never return a token outside the CPU's kept set (ties included).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Row {
  float temperature = 1.f;
  int32_t top_k = 0;
  float top_p = 1.f;
  float penalty = 1.f;
  uint64_t seed = 0;
  int32_t step = 0;
  bool do_sample = false;
  std::vector<int32_t> history;
  std::vector<int32_t> eos;  // masked (the row is under min_new_tokens)
};

// ---- host reference (same steps and order as runtime/sampling/sampler.cc) -------------------
void ref_penalty_eos(float* logits, int64_t vocab, const Row& r) {
  if (r.penalty != 1.f) {
    std::vector<bool> seen(vocab, false);
    for (int32_t t : r.history) {
      if (t < 0 || t >= vocab || seen[t]) continue;
      seen[t] = true;
      logits[t] = logits[t] < 0.f ? logits[t] * r.penalty : logits[t] / r.penalty;
    }
  }
  for (int32_t e : r.eos)
    if (e >= 0 && e < vocab) logits[e] = kNegInf;
}

int32_t ref_argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

// Kept set (logit != -inf) after temperature, top-k and top-p, from penalised logits.
std::vector<bool> ref_kept(std::vector<float> l, const Row& r) {
  const int64_t vocab = static_cast<int64_t>(l.size());
  if (r.temperature != 1.f)
    for (auto& v : l) v /= r.temperature;
  if (r.top_k > 0 && r.top_k < vocab) {
    std::vector<float> v = l;
    std::nth_element(v.begin(), v.begin() + (r.top_k - 1), v.end(), std::greater<float>());
    const float kth = v[r.top_k - 1];
    for (auto& x : l)
      if (x < kth) x = kNegInf;
  }
  if (r.top_p < 1.f) {
    std::vector<int32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] < l[b]; });
    const float mx = l[order.back()];
    double sum = 0;
    for (int64_t i = 0; i < vocab; ++i) sum += std::exp(double(l[i]) - mx);
    double cum = 0;
    for (int64_t i = 0; i < vocab - 1; ++i) {
      cum += std::exp(double(l[order[i]]) - mx) / sum;
      if (cum <= 1.0 - r.top_p) l[order[i]] = kNegInf;
    }
  }
  std::vector<bool> kept(vocab);
  for (int64_t i = 0; i < vocab; ++i) kept[i] = l[i] != kNegInf;
  return kept;
}

// ---- device call ----------------------------------------------------------------------------
struct Result {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // after the call (penalised, EOS-masked)
};

Result run_sample(const std::vector<float>& logits, int64_t vocab, const std::vector<Row>& rows,
                  bool with_workspace = true) {
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<float> temp, top_p, pen;
  std::vector<int32_t> top_k, step, hist, offs{0}, eos;
  std::vector<uint64_t> seed;
  std::vector<uint8_t> ds;
  size_t max_eos = 0;
  for (const Row& r : rows) max_eos = std::max(max_eos, r.eos.size());
  for (const Row& r : rows) {
    temp.push_back(r.temperature), top_p.push_back(r.top_p), pen.push_back(r.penalty);
    top_k.push_back(r.top_k), step.push_back(r.step), seed.push_back(r.seed);
    ds.push_back(r.do_sample ? 1 : 0);
    hist.insert(hist.end(), r.history.begin(), r.history.end());
    offs.push_back(static_cast<int32_t>(hist.size()));
    for (size_t j = 0; j < max_eos; ++j) eos.push_back(j < r.eos.size() ? r.eos[j] : -1);
  }
  if (hist.empty()) hist.push_back(0);
  if (eos.empty()) eos.push_back(-1);
  DeviceBuffer<float> dl(logits), dtemp(temp), dtopp(top_p), dpen(pen);
  DeviceBuffer<int32_t> dtopk(top_k), dstep(step), dhist(hist), doffs(offs), deos(eos), dout(n);
  DeviceBuffer<uint64_t> dseed(seed);
  DeviceBuffer<uint8_t> dds(ds);
  const size_t wsb = cu::sample_workspace_bytes(n, vocab);
  DeviceBuffer<char> dws(with_workspace ? wsb : 0);
  cu::SamplingRowParams p{dtemp.get(), dtopk.get(), dtopp.get(), dpen.get(),
                          dseed.get(), dstep.get(), dds.get()};
  dout.poison();
  cu::sample(dout.get(), dl.get(), n, vocab, p, dhist.get(), doffs.get(), deos.get(),
             static_cast<int64_t>(max_eos), with_workspace ? dws.get() : nullptr,
             with_workspace ? wsb : 0, nullptr);
  cuda_ok(cudaDeviceSynchronize(), "sample");
  cuda_ok(cudaGetLastError(), "sample");
  return {dout.download(), dl.download()};
}

class SamplingGpu : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

TEST_F(SamplingGpu, GreedyMatchesArgmaxWithTies) {
  for (int64_t vocab : {1, 7, 64, 1600, 50257, 256000}) {
    for (int64_t n : {1, 5, 300}) {
      if (vocab * n > 20000000) continue;
      auto l = random_vec(n * vocab, vocab + n, 3.f);
      std::mt19937 rng(vocab * 3 + n);
      for (int64_t r = 0; r < n; ++r) {
        float* row = l.data() + r * vocab;
        if (r % 3 == 1 && vocab > 2) {  // tie for the maximum: first index must win
          const int64_t a = rng() % vocab, b = rng() % vocab;
          row[a] = row[b] = 100.f;
        }
        if (r % 5 == 2) std::fill(row, row + vocab, 0.5f);  // all equal: index 0
      }
      std::vector<Row> rows(n);
      const auto res = run_sample(l, vocab, rows);
      for (int64_t r = 0; r < n; ++r)
        ASSERT_EQ(res.ids[r], ref_argmax(l.data() + r * vocab, vocab))
            << "vocab=" << vocab << " row=" << r;
      EXPECT_EQ(res.logits, l);  // untouched without penalty/mask
    }
  }
}

TEST_F(SamplingGpu, RepetitionPenaltyAndEosMask) {
  for (bool ws : {true, false}) {
    for (int64_t vocab : {7, 1600, 50257}) {
      const int64_t n = 9;
      auto l = random_vec(n * vocab, vocab, 3.f);
      std::vector<Row> rows(n);
      std::mt19937 rng(vocab);
      for (int64_t r = 0; r < n; ++r) {
        Row& row = rows[r];
        row.penalty = r % 3 == 0 ? 1.f : (r % 3 == 1 ? 1.3f : 0.7f);
        const int hl = r == 4 ? 0 : static_cast<int>(rng() % 3000);
        for (int i = 0; i < hl; ++i) row.history.push_back(static_cast<int32_t>(rng() % vocab));
        // duplicates on purpose, and ids that must be ignored
        if (!row.history.empty()) row.history.push_back(row.history.front());
        row.history.push_back(-3);
        row.history.push_back(static_cast<int32_t>(vocab + 5));
        if (r % 2 == 0) row.eos = {static_cast<int32_t>(vocab - 1), -1, static_cast<int32_t>(vocab)};
        if (r == 6) row.eos = {0, static_cast<int32_t>(rng() % vocab)};
      }
      const auto res = run_sample(l, vocab, rows, ws);
      auto ref = l;
      for (int64_t r = 0; r < n; ++r) ref_penalty_eos(ref.data() + r * vocab, vocab, rows[r]);
      for (int64_t i = 0; i < n * vocab; ++i)
        ASSERT_EQ(res.logits[i], ref[i]) << "vocab=" << vocab << " i=" << i << " ws=" << ws;
      for (int64_t r = 0; r < n; ++r)
        EXPECT_EQ(res.ids[r], ref_argmax(ref.data() + r * vocab, vocab)) << "row " << r;
    }
  }
}

TEST_F(SamplingGpu, TopK1IsGreedy) {
  const int64_t vocab = 50257, n = 64;
  const auto l = random_vec(n * vocab, 5, 2.f);
  std::vector<Row> rows(n);
  for (int64_t r = 0; r < n; ++r) {
    rows[r].do_sample = true, rows[r].top_k = 1, rows[r].temperature = 0.8f;
    rows[r].top_p = r % 2 ? 0.9f : 1.f, rows[r].seed = 1234 + r, rows[r].step = static_cast<int32_t>(r);
  }
  const auto res = run_sample(l, vocab, rows);
  for (int64_t r = 0; r < n; ++r) EXPECT_EQ(res.ids[r], ref_argmax(l.data() + r * vocab, vocab));
}

TEST_F(SamplingGpu, SeededReproducibleAndBatchIndependent) {
  const int64_t vocab = 50257, n = 32;
  const auto l = random_vec(n * vocab, 9, 2.f);
  std::vector<Row> rows(n);
  for (int64_t r = 0; r < n; ++r) {
    rows[r].do_sample = true, rows[r].seed = 77 + r, rows[r].step = 3;
    rows[r].top_p = r % 2 ? 0.95f : 1.f, rows[r].top_k = r % 3 ? 0 : 100;
  }
  const auto a = run_sample(l, vocab, rows), b = run_sample(l, vocab, rows);
  EXPECT_EQ(a.ids, b.ids);
  // alone == in the batch
  for (int64_t r : {0, 7, 31}) {
    const std::vector<float> one(l.begin() + r * vocab, l.begin() + (r + 1) * vocab);
    EXPECT_EQ(run_sample(one, vocab, {rows[r]}).ids[0], a.ids[r]) << "row " << r;
  }
  // another step draws differently somewhere
  for (auto& row : rows) row.step = 4;
  const auto c = run_sample(l, vocab, rows);
  EXPECT_NE(a.ids, c.ids);
}

// Frequencies of many seeded draws against the softmax probabilities.
void check_distribution(const std::vector<float>& logits, float temperature,
                        const std::vector<int32_t>& watch, int draws = 20000) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  double mx = -INFINITY, sum = 0;
  for (float v : logits) mx = std::max(mx, double(v) / temperature);
  for (float v : logits) sum += std::exp(double(v) / temperature - mx);
  std::vector<float> all;
  std::vector<Row> rows(draws);
  all.reserve(static_cast<size_t>(draws) * vocab);
  for (int i = 0; i < draws; ++i) {
    all.insert(all.end(), logits.begin(), logits.end());
    rows[i].do_sample = true, rows[i].temperature = temperature;
    rows[i].seed = 0x5eed0000ull + static_cast<uint64_t>(i) * 7919, rows[i].step = i % 5;
  }
  const auto res = run_sample(all, vocab, rows);
  std::map<int32_t, int> counts;
  for (int32_t id : res.ids) {
    ASSERT_GE(id, 0);
    ASSERT_LT(id, vocab);
    ++counts[id];
  }
  for (int32_t t : watch) {
    const double p = std::exp(double(logits[t]) / temperature - mx) / sum;
    EXPECT_NEAR(counts[t] / double(draws), p, 0.02) << "token " << t << " T=" << temperature;
  }
}

TEST_F(SamplingGpu, DrawsFollowTheDistribution) {
  check_distribution({std::log(0.2f), std::log(0.3f), std::log(0.5f)}, 1.f, {0, 1, 2});
  check_distribution({std::log(0.2f), std::log(0.3f), std::log(0.5f)}, 2.f, {0, 1, 2});
  // Large vocab: three dominant tokens spread over the row, a long tail of small ones.
  auto l = random_vec(8192, 3, 1.f, -6.f);
  l[17] = 4.f, l[5000] = 4.5f, l[8191] = 3.5f;
  check_distribution(l, 1.f, {17, 5000, 8191}, 20000);
}

// Every draw lies in the host's kept set for top-k / top-p (incl. ties resolved by index).
void check_nucleus(const std::vector<float>& base, int64_t vocab, Row proto, int draws) {
  std::vector<float> all;
  std::vector<Row> rows(draws, proto);
  for (int i = 0; i < draws; ++i) {
    all.insert(all.end(), base.begin(), base.end());
    rows[i].seed = 1000 + i, rows[i].step = i;
  }
  std::vector<float> pen(base);
  ref_penalty_eos(pen.data(), vocab, proto);
  const auto kept = ref_kept(pen, proto);
  const auto res = run_sample(all, vocab, rows);
  std::map<int32_t, int> seen;
  for (int i = 0; i < draws; ++i) {
    ASSERT_TRUE(res.ids[i] >= 0 && res.ids[i] < vocab && kept[res.ids[i]])
        << "id " << res.ids[i] << " outside the kept set (top_k=" << proto.top_k
        << " top_p=" << proto.top_p << " T=" << proto.temperature << ")";
    ++seen[res.ids[i]];
  }
  // The kept set is reachable: members with >= 1% of the kept mass all show up.
  double mx = -INFINITY, z = 0;
  for (int64_t i = 0; i < vocab; ++i)
    if (kept[i]) mx = std::max(mx, double(pen[i]) / proto.temperature);
  for (int64_t i = 0; i < vocab; ++i)
    if (kept[i]) z += std::exp(double(pen[i]) / proto.temperature - mx);
  if (draws >= 2000) {
    for (int64_t i = 0; i < vocab; ++i) {
      const double pi = kept[i] ? std::exp(double(pen[i]) / proto.temperature - mx) / z : 0.0;
      if (pi >= 0.01)
        EXPECT_GT(seen[static_cast<int32_t>(i)], 0) << "kept token " << i << " (p=" << pi
                                                    << ") never drawn";
    }
  }
}

TEST_F(SamplingGpu, TopKTopPStayInNucleus) {
  for (int64_t vocab : {64, 1000, 50257}) {
    const auto l = random_vec(vocab, vocab + 1, 3.f);
    for (float top_p : {1.f, 0.9f, 0.5f, 0.05f, 0.f}) {
      for (int32_t top_k : {0, 1, 5, 50}) {
        for (float temp : {0.7f, 1.f, 1.5f}) {
          Row proto;
          proto.do_sample = true, proto.top_p = top_p, proto.top_k = top_k, proto.temperature = temp;
          proto.penalty = 1.2f, proto.history = {1, 2, 3, 2, 1};
          check_nucleus(l, vocab, proto, vocab > 10000 ? 300 : 2000);
        }
      }
    }
  }
}

TEST_F(SamplingGpu, TopPTiesResolvedByIndex) {
  // Few distinct values: the nucleus boundary falls inside a run of equal logits. top_p avoids
  // exact rational boundaries (N equal tokens with N·(1 - top_p) integral), where the host's
  // double cumulative sum decides by rounding and the device's exact fixed point may differ.
  const int64_t vocab = 997;
  std::vector<float> l(vocab);
  std::mt19937 rng(4);
  for (auto& v : l) v = static_cast<float>(rng() % 5);
  for (float top_p : {0.1013f, 0.3371f, 0.5123f, 0.7717f, 0.9431f}) {
    for (int32_t top_k : {0, 30}) {
      Row proto;
      proto.do_sample = true, proto.top_p = top_p, proto.top_k = top_k;
      check_nucleus(l, vocab, proto, 4000);
    }
  }
  // Three exactly equal tokens, top_p keeps two of them: the two highest indices.
  std::vector<float> tri = {1.f, 1.f, 1.f};
  Row proto;
  proto.do_sample = true, proto.top_p = 0.5f;
  check_nucleus(tri, 3, proto, 4000);
}

TEST_F(SamplingGpu, GraphCaptureReplays) {
  const int64_t vocab = 50257, n = 8;
  const auto l = random_vec(n * vocab, 12, 2.f);
  std::vector<float> temp(n, 0.9f), top_p(n, 0.9f), pen(n, 1.f);
  std::vector<int32_t> top_k(n, 40), step(n, 2), hist{0}, offs(n + 1, 0), eos{-1};
  std::vector<uint64_t> seed(n);
  std::iota(seed.begin(), seed.end(), 40);
  std::vector<uint8_t> ds(n, 1);
  DeviceBuffer<float> dl(l), dtemp(temp), dtopp(top_p), dpen(pen);
  DeviceBuffer<int32_t> dtopk(top_k), dstep(step), dhist(hist), doffs(offs), deos(eos), dout(n);
  DeviceBuffer<uint64_t> dseed(seed);
  DeviceBuffer<uint8_t> dds(ds);
  const size_t wsb = cu::sample_workspace_bytes(n, vocab);
  DeviceBuffer<char> dws(wsb);
  cu::SamplingRowParams p{dtemp.get(), dtopk.get(), dtopp.get(), dpen.get(),
                          dseed.get(), dstep.get(), dds.get()};
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  auto call = [&] {
    cu::sample(dout.get(), dl.get(), n, vocab, p, dhist.get(), doffs.get(), deos.get(), 1,
               dws.get(), wsb, s);
  };
  call();
  cuda_ok(cudaStreamSynchronize(s), "eager");
  const auto eager = dout.download();
  dout.poison();
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "capture");
  call();
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cuda_ok(cudaGraphLaunch(exec, s), "launch");
  cuda_ok(cudaStreamSynchronize(s), "replay");
  EXPECT_EQ(dout.download(), eager);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

// Prints only: one sampling launch at decode shapes.
TEST_F(SamplingGpu, TimingPrint) {
  for (int64_t vocab : {50257, 256000}) {
    for (int64_t n : {1, 64}) {
      const auto l = random_vec(n * vocab, 2, 2.f);
      DeviceBuffer<float> dl(l), dtemp(std::vector<float>(n, 0.8f)),
          dtopp(std::vector<float>(n, 0.9f)), dpen(std::vector<float>(n, 1.1f));
      DeviceBuffer<int32_t> dtopk(std::vector<int32_t>(n, 50)), dstep(std::vector<int32_t>(n, 1)),
          dhist(std::vector<int32_t>(n * 256, 5)), dout(n);
      std::vector<int32_t> offs(n + 1);
      for (int64_t i = 0; i <= n; ++i) offs[i] = static_cast<int32_t>(i * 256);
      DeviceBuffer<int32_t> doffs(offs), deos(std::vector<int32_t>{-1});
      DeviceBuffer<uint64_t> dseed(std::vector<uint64_t>(n, 9));
      DeviceBuffer<uint8_t> dds(std::vector<uint8_t>(n, 1));
      const size_t wsb = cu::sample_workspace_bytes(n, vocab);
      DeviceBuffer<char> dws(wsb);
      cu::SamplingRowParams p{dtemp.get(), dtopk.get(), dtopp.get(), dpen.get(),
                              dseed.get(), dstep.get(), dds.get()};
      for (int32_t k : {50, 0}) {
        dtopk.upload(std::vector<int32_t>(n, k));
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        cu::sample(dout.get(), dl.get(), n, vocab, p, dhist.get(), doffs.get(), deos.get(), 0,
                   dws.get(), wsb, nullptr);
        cudaEventRecord(e0);
        const int iters = 20;
        for (int i = 0; i < iters; ++i)
          cu::sample(dout.get(), dl.get(), n, vocab, p, dhist.get(), doffs.get(), deos.get(), 0,
                     dws.get(), wsb, nullptr);
        cudaEventRecord(e1);
        cuda_ok(cudaEventSynchronize(e1), "timing");
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        std::printf("  sample vocab=%-6lld rows=%-3lld top_k=%-2d top_p=0.9: %8.1f us\n",
                    static_cast<long long>(vocab), static_cast<long long>(n), k, ms * 1e3 / iters);
        cudaEventDestroy(e0), cudaEventDestroy(e1);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::test
