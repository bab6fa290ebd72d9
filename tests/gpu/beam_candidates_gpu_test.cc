// cuda::beam_candidates vs its CPU twin (cpu::beam_candidates, the host beam search's own
// log-softmax): fp32 logits, vocab 50257 / 32128 / 97, rows 1..256 gathered by row id, k up to 128,
// end-id masks, exact ties, -inf rows, a NaN row. Log-probs agree within 1e-6 (relative, or absolute
// near 0); tokens agree exactly, except that two candidates whose host log-probs are within that
// tolerance may swap. Rows of exactly tied values must agree exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cpu/kernels.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
namespace cp = kiln::ops::cpu;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool close(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;  // incl. -inf
  return std::abs(double(a) - b) <= 1e-6 * std::max(1.0, std::abs(double(b)));
}

enum class Kind { kRandom, kTies, kMixed };

struct Case {
  int64_t vocab, rows, k;
  Kind kind;
  uint64_t seed;
};

// Runs one case; returns the number of token positions where GPU and CPU differ (near-ties).
int64_t run_case(const Case& c) {
  SCOPED_TRACE(testing::Message() << "vocab " << c.vocab << " rows " << c.rows << " k " << c.k
                                  << " kind " << static_cast<int>(c.kind) << " seed " << c.seed);
  const int64_t n_all = c.rows + 3, vocab = c.vocab, k = c.k, max_mask = 4;
  std::mt19937_64 rng(c.seed);
  std::vector<float> logits = random_vec(static_cast<size_t>(n_all * vocab), c.seed, 3.f);
  if (c.kind == Kind::kTies)  // few distinct values: exact ties everywhere
    for (float& v : logits) v = std::round(v);
  if (c.kind == Kind::kMixed) {
    for (int64_t t = 0; t < vocab; ++t) logits[0 * vocab + t] = kNegInf;  // row 0: all -inf
    for (int64_t t = 0; t < vocab; t += 3) logits[1 * vocab + t] = kNegInf;  // row 1: some -inf
    for (int64_t t = 0; t < vocab; ++t) logits[2 * vocab + t] = std::round(logits[2 * vocab + t] * 2.f);
    if (n_all > 4) logits[4 * vocab + vocab / 2] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t t = 0; t < vocab; t += 7) logits[3 * vocab + t] = 1.f;  // tied maxima
  }
  std::vector<int32_t> row_ids(c.rows), mask(c.rows * max_mask, -1);
  for (int64_t i = 0; i < c.rows; ++i) {
    row_ids[i] = static_cast<int32_t>(i < n_all && c.kind == Kind::kMixed ? i : rng() % n_all);
    const int64_t m = static_cast<int64_t>(rng() % (max_mask + 1));
    for (int64_t j = 0; j < m; ++j)  // an id outside the vocabulary now and then (ignored)
      mask[i * max_mask + j] = static_cast<int32_t>(rng() % 17 == 0 ? vocab + 5 : rng() % vocab);
  }
  if (c.kind != Kind::kRandom && c.rows > 1) {
    // Mask the row's best token: the next one moves up.
    const int32_t r = row_ids[1];
    mask[1 * max_mask] = static_cast<int32_t>(
        std::max_element(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab) -
        (logits.begin() + r * vocab));
  }

  std::vector<float> want_lp(c.rows * k);
  std::vector<int32_t> want_tok(c.rows * k);
  cp::beam_candidates(want_lp.data(), want_tok.data(), logits.data(), row_ids.data(), mask.data(),
                      c.rows, vocab, max_mask, k);

  DeviceBuffer<float> d_logits(logits), d_lp(c.rows * k);
  DeviceBuffer<int32_t> d_rows(row_ids), d_mask(mask), d_tok(c.rows * k);
  d_lp.poison();
  cu::beam_candidates(d_lp.get(), d_tok.get(), d_logits.get(), d_rows.get(), d_mask.get(), c.rows,
                      vocab, max_mask, k, nullptr);
  cuda_ok(cudaGetLastError(), "launch");
  const std::vector<float> got_lp = d_lp.download();
  const std::vector<int32_t> got_tok = d_tok.download();

  int64_t swaps = 0;
  std::vector<float> full(vocab);
  for (int64_t i = 0; i < c.rows; ++i) {
    // The host's full processed row, to judge a swapped token.
    std::copy(logits.begin() + row_ids[i] * vocab, logits.begin() + (row_ids[i] + 1) * vocab,
              full.begin());
    cp::log_softmax_row(full.data(), vocab);
    for (int64_t j = 0; j < max_mask; ++j) {
      const int32_t t = mask[i * max_mask + j];
      if (t >= 0 && t < vocab) full[t] = kNegInf;
    }
    std::vector<int32_t> seen;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t at = i * k + j;
      EXPECT_TRUE(close(got_lp[at], want_lp[at]))
          << "row " << i << " rank " << j << ": gpu " << got_lp[at] << " cpu " << want_lp[at];
      const int32_t t = got_tok[at];
      EXPECT_TRUE(t >= 0 && t < vocab) << "row " << i << " rank " << j << " token " << t;
      if (t < 0 || t >= vocab) return swaps;
      seen.push_back(t);
      if (t == want_tok[at]) continue;
      ++swaps;
      EXPECT_TRUE(close(full[t], want_lp[at]))
          << "row " << i << " rank " << j << ": gpu token " << t << " (host lp " << full[t]
          << ") vs cpu token " << want_tok[at] << " (" << want_lp[at] << ")";
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end()) == seen.end())
        << "row " << i << ": a token twice";
    if (::testing::Test::HasFailure()) return swaps;
  }
  if (c.kind == Kind::kTies) {
    EXPECT_EQ(swaps, 0) << "exact ties must resolve to the lower token on both sides";
  }
  return swaps;
}

TEST(BeamCandidatesGpu, MatchesCpuTwin) {
  KILN_SKIP_WITHOUT_GPU();
  int64_t swaps = 0, positions = 0;
  uint64_t seed = 1;
  for (int64_t vocab : {50257, 32128, 97}) {
    for (int64_t rows : {1, 7, 64, 256}) {
      for (int64_t k : {1, 8, 16, 33, 128}) {
        for (Kind kind : {Kind::kRandom, Kind::kTies, Kind::kMixed}) {
          if (rows == 256 && kind != Kind::kRandom && vocab != 97) continue;  // keep it quick
          const Case c{vocab, rows, std::min(k, vocab), kind, seed++};
          swaps += run_case(c);
          positions += c.rows * c.k;
          if (HasFailure()) return;
        }
      }
    }
  }
  // Swaps need two host log-probs within 1e-6 of each other at the same rank: rare.
  EXPECT_LE(swaps * 1000, positions) << swaps << " swapped of " << positions;
}

TEST(BeamCandidatesGpu, AllMaskedAndKEqualsVocab) {
  KILN_SKIP_WITHOUT_GPU();
  // k == vocab: the whole row, sorted; -inf rows keep token order.
  run_case({97, 5, 97, Kind::kMixed, 99});
  run_case({97, 3, 97, Kind::kTies, 100});
}

// Not a benchmark gate: prints the kernel time of the t5-large shape (batch 64 x 4 beams).
TEST(BeamCandidatesGpu, TimeT5LargeShape) {
  KILN_SKIP_WITHOUT_GPU();
  const int64_t rows = 256, vocab = 32128, k = 16, max_mask = 1;
  const std::vector<float> logits = random_vec(static_cast<size_t>(rows * vocab), 5, 3.f);
  std::vector<int32_t> row_ids(rows), mask(rows, -1);
  for (int64_t i = 0; i < rows; ++i) row_ids[i] = static_cast<int32_t>(i);
  DeviceBuffer<float> d_logits(logits), d_lp(rows * k);
  DeviceBuffer<int32_t> d_rows(row_ids), d_mask(mask), d_tok(rows * k);
  cudaEvent_t a, b;
  cuda_ok(cudaEventCreate(&a), "event");
  cuda_ok(cudaEventCreate(&b), "event");
  for (int w = 0; w < 3; ++w)
    cu::beam_candidates(d_lp.get(), d_tok.get(), d_logits.get(), d_rows.get(), d_mask.get(), rows,
                        vocab, max_mask, k, nullptr);
  const int iters = 20;
  cuda_ok(cudaEventRecord(a), "record");
  for (int it = 0; it < iters; ++it)
    cu::beam_candidates(d_lp.get(), d_tok.get(), d_logits.get(), d_rows.get(), d_mask.get(), rows,
                        vocab, max_mask, k, nullptr);
  cuda_ok(cudaEventRecord(b), "record");
  cuda_ok(cudaEventSynchronize(b), "sync");
  float ms = 0;
  cuda_ok(cudaEventElapsedTime(&ms, a, b), "elapsed");
  std::printf("beam_candidates %lld x %lld, k %lld: %.1f us per call\n",
              static_cast<long long>(rows), static_cast<long long>(vocab),
              static_cast<long long>(k), 1000.0 * ms / iters);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

}  // namespace
}  // namespace kiln::test
