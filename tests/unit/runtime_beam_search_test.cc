// Beam search bookkeeping (runtime/sampling/beam_search.h) on hand-built probability tables:
// candidate ordering, eos only counted in the top num_beams, length penalty, the three
// early_stopping modes, num_return_sequences, max length, ties, and the row preprocessing; the
// sparse step (per-row candidate lists, as ops::beam_candidates gives them) equals the dense one
// bit for bit on random, tie-heavy and rounding-tie rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "core/check.h"
#include "ops/ops.h"
#include "runtime/sampling/beam_search.h"

namespace kiln::runtime {
namespace {

using Tokens = std::vector<int32_t>;
// Generated prefix of a running beam -> next-token probabilities (missing: the fallback row, by
// default uniform).
using Table = std::map<Tokens, std::vector<float>>;

struct Outcome {
  std::vector<BeamSearch::Hypothesis> hyps;
  int64_t steps = 0;
};

// Drives one group to the end and checks, every step, that running beam j is row parent[j]'s
// sequence plus token[j].
Outcome drive(const BeamParams& params, int64_t vocab, const Table& table,
              const std::vector<float>& fallback = {}) {
  BeamSearch bs(params, vocab);
  while (!bs.done()) {
    const int n = bs.num_running();
    std::vector<Tokens> rows;
    std::vector<float> lp(n * vocab);  // [n, vocab]
    for (int i = 0; i < n; ++i) {
      rows.push_back(bs.running_tokens(i));
      auto it = table.find(rows.back());
      for (int64_t t = 0; t < vocab; ++t)
        lp[i * vocab + t] = std::log(it != table.end()  ? it->second[t]
                                     : fallback.empty() ? 1.f / vocab
                                                        : fallback[t]);
    }
    const BeamSearch::Step st = bs.step(lp.data(), n);
    if (bs.done()) {
      EXPECT_TRUE(st.parent.empty());
      break;
    }
    EXPECT_EQ(bs.num_running(), params.num_beams);
    EXPECT_EQ(st.parent.size(), static_cast<size_t>(params.num_beams));
    for (int j = 0; j < params.num_beams; ++j) {
      Tokens want = rows.at(st.parent[j]);
      want.push_back(st.token[j]);
      EXPECT_EQ(bs.running_tokens(j), want);
    }
  }
  EXPECT_EQ(bs.num_running(), 0);
  return {bs.finalize(), bs.num_steps()};
}

// HF's score: fp32 sum of the step log-probs, divided by len^length_penalty.
double score(const std::vector<float>& probs, double length_penalty) {
  float s = 0.f;
  for (float p : probs) s += std::log(p);
  return s / static_cast<float>(std::pow(static_cast<double>(probs.size()), length_penalty));
}

BeamParams params(int num_beams, std::vector<int32_t> eos, int64_t max_new, double lp = 1.0,
                  int early_stopping = 0, int nrs = 1) {
  BeamParams p;
  p.num_beams = num_beams;
  p.eos_token_ids = std::move(eos);
  p.max_new_tokens = max_new;
  p.length_penalty = lp;
  p.early_stopping = early_stopping;
  p.num_return_sequences = nrs;
  return p;
}

// vocab 4, eos 3, 2 beams (K = 4 candidates a step), max 3 new tokens.
//  step 0: 0 (.5), 1 (.3) run; eos (.05) is 4th, outside the top 2: ignored.
//  step 1: [0]+eos (.35) finishes; [1]+0 (.18), [1]+1 (.06) run ([0]+0 .05 ranks below).
//  step 2: max length: [1,0]+0 (.162) and [1,1]+0 (.015) are the top 2; everything finishes.
// clang-format off
const Table kBasic = {
    {{}, {.5f, .3f, .15f, .05f}},
    {{0}, {.1f, .1f, .1f, .7f}},
    {{1}, {.6f, .2f, .1f, .1f}},
    {{1, 0}, {.9f, .05f, .03f, .02f}},
    {{1, 1}, {.25f, .25f, .25f, .25f}},
};
// clang-format on

TEST(BeamSearch, OrderingEosAndMaxLength) {
  const Outcome r = drive(params(2, {3}, 3, 1.0, 0, 2), 4, kBasic);
  EXPECT_EQ(r.steps, 3);
  ASSERT_EQ(r.hyps.size(), 2u);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{0, 3}));
  EXPECT_NEAR(r.hyps[0].score, score({.5f, .7f}, 1.0), 1e-6);
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{1, 0, 0}));
  EXPECT_NEAR(r.hyps[1].score, score({.3f, .6f, .9f}, 1.0), 1e-6);
}

TEST(BeamSearch, StopIdsEndHypothesesWithoutWideningTopK) {
  // Token 3 as a stop id (not eos) ends hypotheses like eos does; K stays 2 x num_beams, so the
  // run is kBasic's.
  BeamParams p = params(2, {}, 3, 1.0, 0, 2);
  p.stop_token_ids = {3};
  const Outcome r = drive(p, 4, kBasic);
  EXPECT_EQ(r.steps, 3);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{0, 3}));
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{1, 0, 0}));
  // Three eos ids give K = 4 x num_beams (vocab 4 x 2 beams = 8 candidates: all of them).
  EXPECT_NO_THROW(BeamSearch(params(2, {3, 2, 1}, 3), 4));
  EXPECT_THROW(BeamSearch(params(2, {3, 2, 1, 0}, 3), 4), Error);
}

TEST(BeamSearch, FirstStepParentsAreThePromptRow) {
  BeamSearch bs(params(3, {}, 4), 5);
  EXPECT_EQ(bs.num_running(), 1);
  std::vector<float> row = {-3.f, -1.f, -2.f, -0.5f, -4.f};
  const BeamSearch::Step st = bs.step(row.data(), 1);
  EXPECT_EQ(st.parent, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(st.token, (Tokens{3, 1, 2}));
  EXPECT_EQ(bs.num_running(), 3);
}

TEST(BeamSearch, LengthPenaltyReranksHypotheses) {
  // lp 2 favours the longer hypothesis: log(.162)/9 > log(.35)/4.
  const Outcome r2 = drive(params(2, {3}, 3, 2.0, 0, 2), 4, kBasic);
  ASSERT_EQ(r2.hyps.size(), 2u);
  EXPECT_EQ(r2.hyps[0].tokens, (Tokens{1, 0, 0}));
  EXPECT_NEAR(r2.hyps[0].score, score({.3f, .6f, .9f}, 2.0), 1e-6);
  EXPECT_EQ(r2.hyps[1].tokens, (Tokens{0, 3}));
  EXPECT_NEAR(r2.hyps[1].score, score({.5f, .7f}, 2.0), 1e-6);
  // lp 0: raw sums.
  const Outcome r0 = drive(params(2, {3}, 3, 0.0, 0, 1), 4, kBasic);
  ASSERT_EQ(r0.hyps.size(), 1u);
  EXPECT_EQ(r0.hyps[0].tokens, (Tokens{0, 3}));
  EXPECT_NEAR(r0.hyps[0].score, score({.5f, .7f}, 0.0), 1e-6);
}

TEST(BeamSearch, EosOutsideTopNumBeamsDoesNotFinish) {
  // One beam, K = 2: eos (.4) is the 2nd candidate at step 0, so it is only a backup and never a
  // hypothesis, although log(.4) would beat the final log(.5 * .85) / 2.
  const Table t = {{{}, {.5f, .1f, .4f}}, {{0}, {.1f, .85f, .05f}}};
  const Outcome r = drive(params(1, {2}, 2), 3, t);
  ASSERT_EQ(r.hyps.size(), 1u);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{0, 1}));
  EXPECT_NEAR(r.hyps[0].score, score({.5f, .85f}, 1.0), 1e-6);
}

// vocab 4, eos 3, 2 beams, lp 1, max 12 new tokens; rows not in the table are kLikely0.
//  step 0: eos (.37) finishes ([3], -0.994); 0 (.3) and 1 (.25) run.
//  step 1: [0,0] (.27), [1,0] (.225) run.
//  step 2: [0,0,3] (.216) finishes (-0.511): both slots are full. Running [1,0,0] (.1575) could
//          still beat -0.994 at the current length: early_stopping=True stops here, False goes on.
//  step 3: [1,0,0,3] (.1339) finishes with -0.503, the new best. The best running beam, [0,0,2,0]
//          (.0262), cannot beat -0.511 at length 4: False stops. "never" assumes it reaches max
//          length (-0.303 > -0.511) and goes on: both running beams keep token 0 (.97) to length
//          12 and end as better hypotheses (-0.324, -0.424) than the short ones.
// clang-format off
const Table kEarly = {
    {{}, {.3f, .25f, .08f, .37f}},
    {{0}, {.9f, .05f, .04f, .01f}},
    {{1}, {.9f, .05f, .04f, .01f}},
    {{0, 0}, {.05f, .05f, .1f, .8f}},
    {{1, 0}, {.7f, .1f, .1f, .1f}},
    {{1, 0, 0}, {.05f, .05f, .05f, .85f}},
};
// clang-format on
const std::vector<float> kLikely0 = {.97f, .01f, .01f, .01f};

TEST(BeamSearch, EarlyStoppingTrueStopsWhenNumBeamsFinished) {
  const Outcome r = drive(params(2, {3}, 12, 1.0, 1, 2), 4, kEarly, kLikely0);
  EXPECT_EQ(r.steps, 3);
  ASSERT_EQ(r.hyps.size(), 2u);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{0, 0, 3}));
  EXPECT_NEAR(r.hyps[0].score, score({.3f, .9f, .8f}, 1.0), 1e-6);
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{3}));
  EXPECT_NEAR(r.hyps[1].score, score({.37f}, 1.0), 1e-6);
}

TEST(BeamSearch, EarlyStoppingFalseUsesCurrentLengthHeuristic) {
  const Outcome r = drive(params(2, {3}, 12, 1.0, 0, 2), 4, kEarly, kLikely0);
  EXPECT_EQ(r.steps, 4);
  ASSERT_EQ(r.hyps.size(), 2u);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{1, 0, 0, 3}));
  EXPECT_NEAR(r.hyps[0].score, score({.25f, .9f, .7f, .85f}, 1.0), 1e-6);
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{0, 0, 3}));
  EXPECT_NEAR(r.hyps[1].score, score({.3f, .9f, .8f}, 1.0), 1e-6);
}

TEST(BeamSearch, EarlyStoppingNeverAssumesMaxLengthWithPositivePenalty) {
  const Outcome r = drive(params(2, {3}, 12, 1.0, 2, 2), 4, kEarly, kLikely0);
  EXPECT_EQ(r.steps, 12);
  ASSERT_EQ(r.hyps.size(), 2u);
  std::vector<float> p0 = {.3f, .9f, .1f}, p1 = {.25f, .9f, .7f, .05f};
  p0.resize(12, .97f);
  p1.resize(12, .97f);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_NEAR(r.hyps[0].score, score(p0, 1.0), 1e-6);
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_NEAR(r.hyps[1].score, score(p1, 1.0), 1e-6);
  // With length_penalty <= 0, "never" uses the current length like False.
  const Outcome r0 = drive(params(2, {3}, 12, 0.0, 2, 2), 4, kEarly, kLikely0);
  const Outcome f0 = drive(params(2, {3}, 12, 0.0, 0, 2), 4, kEarly, kLikely0);
  EXPECT_EQ(r0.steps, 3);
  EXPECT_EQ(f0.steps, 3);
  EXPECT_EQ(r0.hyps[0].tokens, f0.hyps[0].tokens);
}

TEST(BeamSearch, NumReturnSequencesWithoutEos) {
  // No eos: every hypothesis ends at max length; the best 3 of the last step, best first.
  const Table t = {{{}, {.4f, .3f, .2f, .1f}},
                   {{0}, {.1f, .2f, .3f, .4f}},
                   {{1}, {.7f, .1f, .1f, .1f}},
                   {{2}, {.5f, .5f, 0.f, 0.f}}};
  const Outcome r = drive(params(3, {}, 2, 1.0, 0, 3), 4, t);
  EXPECT_EQ(r.steps, 2);
  ASSERT_EQ(r.hyps.size(), 3u);
  EXPECT_EQ(r.hyps[0].tokens, (Tokens{1, 0}));  // .21
  EXPECT_EQ(r.hyps[1].tokens, (Tokens{0, 3}));  // .16
  EXPECT_EQ(r.hyps[2].tokens, (Tokens{0, 2}));  // .12 (beats [2,0] = .1)
  EXPECT_NEAR(r.hyps[0].score, score({.3f, .7f}, 1.0), 1e-6);
  EXPECT_NEAR(r.hyps[2].score, score({.4f, .3f}, 1.0), 1e-6);
}

TEST(BeamSearch, TiesGoToTheLowerIndex) {
  // Equal candidates: the lower token first within a beam, the lower beam first across beams.
  BeamSearch bs(params(2, {}, 5), 4);
  std::vector<float> row = {std::log(.1f), std::log(.4f), std::log(.4f), std::log(.1f)};
  BeamSearch::Step st = bs.step(row.data(), 1);
  EXPECT_EQ(st.token, (Tokens{1, 2}));
  std::vector<float> rows(8, std::log(.25f));  // both beams (equal scores) uniform
  st = bs.step(rows.data(), 2);
  EXPECT_EQ(st.parent, (std::vector<int>{0, 0}));
  EXPECT_EQ(st.token, (Tokens{0, 1}));
}

TEST(BeamSearch, MaskedEosNeverFinishes) {
  // min_new_tokens masks eos with -inf: the masked candidate is never a hypothesis.
  SamplingParams sp;
  sp.eos_token_ids = {2};
  sp.min_new_tokens = 2;
  sp.num_beams = 2;
  sp.max_new_tokens = 2;
  const BeamParams bp = BeamParams::from(sp, 5);
  EXPECT_EQ(bp.max_new_tokens, 2);
  BeamSearch bs(bp, 3);
  const std::vector<int32_t> prompt = {0, 1, 0, 1, 0};
  std::vector<float> row = {0.f, 0.f, 5.f};  // eos would dominate
  beam_logprobs(row.data(), 3, sp, prompt, 5);
  EXPECT_EQ(row[2], -std::numeric_limits<float>::infinity());
  bs.step(row.data(), 1);
  std::vector<float> rows(6);  // [2, vocab]
  for (int i = 0; i < 2; ++i) {
    std::vector<int32_t> ctx = prompt;
    ctx.insert(ctx.end(), bs.running_tokens(i).begin(), bs.running_tokens(i).end());
    float* r = rows.data() + 3 * i;
    r[0] = 0.f;
    r[1] = 1.f;
    r[2] = 5.f;
    beam_logprobs(r, 3, sp, ctx, 5);
  }
  bs.step(rows.data(), 2);
  ASSERT_TRUE(bs.done());
  for (const auto& h : bs.finalize()) EXPECT_NE(h.tokens.back(), 2);
}

TEST(BeamSearch, LogSoftmaxAndRepetitionPenaltyOnLogProbs) {
  std::vector<float> row = {1.f, 2.f, 3.f};
  log_softmax_row(row.data(), 3);
  double sum = 0;
  for (float v : row) sum += std::exp(double(v));
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(row[2] - row[1], 1.0, 1e-6);
  // HF applies the penalty to log-probs (all negative: multiplied), without renormalising.
  SamplingParams sp;
  sp.repetition_penalty = 2.f;
  std::vector<float> a = {1.f, 2.f, 3.f}, b = a;
  log_softmax_row(b.data(), 3);
  beam_logprobs(a.data(), 3, sp, {2, 2, 0}, 2);  // tokens 0 and 2 seen
  EXPECT_FLOAT_EQ(a[0], b[0] * 2.f);
  EXPECT_FLOAT_EQ(a[1], b[1]);
  EXPECT_FLOAT_EQ(a[2], b[2] * 2.f);
}

TEST(BeamSearch, RejectsBadParametersAndMisuse) {
  EXPECT_THROW(BeamSearch(params(2, {}, 4, 1.0, 0, 3), 10), Error);  // nrs > num_beams
  EXPECT_THROW(BeamSearch(params(2, {}, 0), 10), Error);             // no new tokens
  EXPECT_THROW(BeamSearch(params(2, {}, 4, 1.0, 3), 10), Error);     // early_stopping
  EXPECT_THROW(BeamSearch(params(4, {1, 2}, 4), 2), Error);          // K = 12 > 4 x 2
  BeamSearch bs(params(2, {}, 1), 4);
  std::vector<float> rows(8, -1.f);
  EXPECT_THROW(bs.step(rows.data(), 2), Error);  // the first step takes the prompt's one row
  EXPECT_THROW(bs.finalize(), Error);
  bs.step(rows.data(), 1);
  EXPECT_TRUE(bs.done());
  EXPECT_THROW(bs.step(rows.data(), 0), Error);
  EXPECT_EQ(bs.finalize().size(), 1u);
}

// ---- sparse step == dense step ---------------------------------------------------------------

// Each row's k best (log-prob desc, NaN first; token asc): what ops::beam_candidates returns.
void top_lists(const std::vector<float>& lp, int rows, int64_t vocab, int k,
               std::vector<float>& out_lp, std::vector<int32_t>& out_tok) {
  out_lp.assign(static_cast<size_t>(rows) * k, 0.f);
  out_tok.assign(static_cast<size_t>(rows) * k, 0);
  for (int r = 0; r < rows; ++r) {
    const float* row = lp.data() + r * vocab;
    const auto key = [](float v) { return std::isnan(v) ? INFINITY : v; };
    std::vector<int32_t> idx(vocab);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int32_t a, int32_t b) { return key(row[a]) > key(row[b]); });
    for (int j = 0; j < k; ++j) {
      out_lp[r * k + j] = row[idx[j]];
      out_tok[r * k + j] = idx[j];
    }
  }
}

// Row generator for a step: [rows, vocab] processed log-probs.
using RowGen = std::function<std::vector<float>(int step, int rows)>;

// Drives a dense and a sparse group (per-row lists of k) in lockstep on the same rows; every step
// and the final hypotheses must be identical. Returns the sparse group's fallbacks to the dense
// rows.
int expect_sparse_equals_dense(const BeamParams& bp, int64_t vocab, int k, const RowGen& gen) {
  BeamSearch dense(bp, vocab), sparse(bp, vocab);
  int fallbacks = 0;
  std::vector<float> clp;
  std::vector<int32_t> ctok;
  for (int step = 0; !dense.done(); ++step) {
    const int n = dense.num_running();
    EXPECT_EQ(sparse.num_running(), n);
    const std::vector<float> lp = gen(step, n);
    top_lists(lp, n, vocab, k, clp, ctok);
    const BeamSearch::Step want = dense.step(lp.data(), n);
    std::optional<BeamSearch::Step> got = sparse.step_sparse(clp.data(), ctok.data(), k, n);
    if (!got) {
      ++fallbacks;
      got = sparse.step(lp.data(), n);
    }
    EXPECT_EQ(got->parent, want.parent) << "step " << step;
    EXPECT_EQ(got->token, want.token) << "step " << step;
    EXPECT_EQ(sparse.done(), dense.done());
    if (::testing::Test::HasFailure()) return fallbacks;
  }
  const auto a = dense.finalize(), b = sparse.finalize();
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    EXPECT_EQ(a[i].score, b[i].score);  // bit for bit
  }
  return fallbacks;
}

TEST(BeamSearch, SparseStepEqualsDenseOnRandomRows) {
  int fallbacks = 0, runs = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t vocab = std::vector<int64_t>{7, 50, 97, 1000}[seed % 4];
    const int nb = 1 + static_cast<int>(rng() % 5);
    std::vector<int32_t> eos;
    for (int e = 0; e < static_cast<int>(rng() % 3); ++e)
      eos.push_back(static_cast<int32_t>(rng() % vocab));
    BeamParams bp = params(nb, eos, 2 + static_cast<int64_t>(rng() % 12), 0.5 + (rng() % 3) * 0.5,
                           static_cast<int>(rng() % 3), 1 + static_cast<int>(rng() % nb));
    if (vocab * nb < BeamSearch::candidates_kept(nb, eos.size())) continue;
    const int keep = BeamSearch::candidates_kept(nb, eos.size());
    const int64_t min_new = static_cast<int64_t>(rng() % 3);
    const RowGen gen = [&](int step, int rows) {
      std::normal_distribution<float> nd(0.f, 1.f + static_cast<float>(seed % 3) * 2.f);
      std::vector<float> lp(rows * vocab);
      for (int r = 0; r < rows; ++r) {
        float* row = lp.data() + r * vocab;
        for (int64_t t = 0; t < vocab; ++t) row[t] = nd(rng);
        log_softmax_row(row, vocab);
        if (step < min_new)  // min_new_tokens masks the end ids after the log-softmax
          for (int32_t e : eos) row[e] = -INFINITY;
      }
      return lp;
    };
    for (int k : {keep, keep + 1, 2 * keep, static_cast<int>(vocab)}) {
      k = std::min<int>(k, static_cast<int>(vocab));
      if (static_cast<int64_t>(k) * nb < keep) continue;
      SCOPED_TRACE(testing::Message() << "seed " << seed << " vocab " << vocab << " beams " << nb
                                      << " eos " << eos.size() << " k " << k);
      fallbacks += expect_sparse_equals_dense(bp, vocab, k, gen);
      ++runs;
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(runs, 100);
  EXPECT_LT(fallbacks, runs);  // random rows almost never need the dense rows
}

TEST(BeamSearch, SparseStepEqualsDenseOnTies) {
  // Few distinct values: exact ties everywhere, in the rows and among accumulated scores.
  int fallbacks = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t vocab = 20 + static_cast<int64_t>(seed % 3) * 37;
    const int nb = 2 + static_cast<int>(seed % 4);
    const std::vector<int32_t> eos = {3, 5};
    const BeamParams bp = params(nb, eos, 8, 1.0, static_cast<int>(seed % 3));
    const int keep = BeamSearch::candidates_kept(nb, eos.size());
    const RowGen gen = [&](int, int rows) {
      std::vector<float> lp(rows * vocab);
      for (float& v : lp) v = -0.5f * static_cast<float>(rng() % 4);
      return lp;
    };
    for (int k : {keep, keep + 3, 2 * keep}) {
      k = std::min<int>(k, static_cast<int>(vocab));
      SCOPED_TRACE(testing::Message() << "seed " << seed << " k " << k);
      fallbacks += expect_sparse_equals_dense(bp, vocab, k, gen);
      if (HasFailure()) return;
    }
  }
  // Equal log-probs keep the token order: no fallback is needed for exact ties.
  EXPECT_EQ(fallbacks, 0);
}

TEST(BeamSearch, SparseStepEqualsDenseOnRoundingTies) {
  // Large accumulated scores and log-probs a few ulps apart: fl(lp + score) ties candidates whose
  // log-probs differ, so the row order (lp desc) and the step's order (index asc) disagree at the
  // K-th candidate. The sparse step must notice and ask for the dense rows, never differ.
  int fallbacks = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t vocab = 64;
    const int nb = 2 + static_cast<int>(seed % 3);
    const BeamParams bp = params(nb, {1}, 6);
    const int keep = BeamSearch::candidates_kept(nb, 1);
    const RowGen gen = [&](int step, int rows) {
      std::vector<float> lp(rows * vocab);
      for (float& v : lp) {
        // Step 0 pushes the scores to about -3000 (ulp 2.4e-4); later rows differ by ~1e-6.
        const float base = step == 0 ? -3000.f : -1.f;
        v = base - 1e-6f * static_cast<float>(rng() % 64);
      }
      return lp;
    };
    for (int k : {keep, keep + 1, 2 * keep}) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " k " << k);
      fallbacks += expect_sparse_equals_dense(bp, vocab, k, gen);
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(fallbacks, 0);  // the check does fire on such rows
}

TEST(BeamSearch, SparseStepRejectsTooFewCandidates) {
  BeamSearch bs(params(2, {1}, 4), 10);  // K = 4
  std::vector<float> lp(3, -1.f);
  std::vector<int32_t> tok = {0, 1, 2};
  EXPECT_THROW(bs.step_sparse(lp.data(), tok.data(), 1, 1), Error);   // 1 x 2 beams < K
  EXPECT_THROW(bs.step_sparse(lp.data(), tok.data(), 11, 1), Error);  // k > vocab
  EXPECT_THROW(bs.step_sparse(lp.data(), tok.data(), 3, 2), Error);   // the first step: 1 row
}

// ops::beam_candidates (the CPU twin of the GPU op) gives exactly the rows the host path builds
// (beam_logprobs: log_softmax, then the end-id mask) cut to their k best, and driving a group from
// it equals the dense host step.
TEST(BeamSearch, BeamCandidatesOpMatchesHostRows) {
  ExecContext ctx;
  const int64_t vocab = 257, n = 5, k = 16;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<float> logits(n * vocab);
  for (float& v : logits) v = nd(rng);
  for (int64_t t = 0; t < vocab; ++t) logits[3 * vocab + t] = -INFINITY;  // fully masked row
  for (int64_t t = 0; t < vocab; t += 2) logits[4 * vocab + t] = std::round(logits[4 * vocab + t]);
  const std::vector<int32_t> rows = {4, 0, 3, 2};
  SamplingParams sp;
  sp.eos_token_ids = {1, 9};
  sp.stop_token_ids = {200};
  sp.min_new_tokens = 1;
  const std::vector<int32_t> mask = {1, 9, 200, -1, -1, -1, 1, 9, 200, 1, 9, -1};  // [4, 3]
  Tensor lt = Tensor::empty({n, vocab}, DType::kFloat32);
  std::copy(logits.begin(), logits.end(), lt.data<float>());
  Tensor rt = Tensor::empty({4}, DType::kInt32), mt = Tensor::empty({4, 3}, DType::kInt32);
  std::copy(rows.begin(), rows.end(), rt.data<int32_t>());
  std::copy(mask.begin(), mask.end(), mt.data<int32_t>());
  Tensor olp = Tensor::empty({4, k}, DType::kFloat32), otok = Tensor::empty({4, k}, DType::kInt32);
  ops::beam_candidates(lt, rt, mt, k, olp, otok, ctx);
  for (int i = 0; i < 4; ++i) {
    std::vector<float> row(logits.begin() + rows[i] * vocab, logits.begin() + (rows[i] + 1) * vocab);
    SamplingParams p = sp;
    if (i == 1) p.min_new_tokens = 0;  // row 1 is past min_new_tokens: no mask
    if (i == 3) p.stop_token_ids = {};  // row 3 masks only the eos ids
    beam_logprobs(row.data(), vocab, p, {0}, 1);
    std::vector<float> want_lp;
    std::vector<int32_t> want_tok;
    top_lists(row, 1, vocab, k, want_lp, want_tok);
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(otok.data<int32_t>()[i * k + j], want_tok[j]) << "row " << i << " j " << j;
      EXPECT_EQ(olp.data<float>()[i * k + j], want_lp[j]) << "row " << i << " j " << j;
    }
  }
  EXPECT_THROW(ops::beam_candidates(lt, rt, mt, vocab + 1, olp, otok, ctx), Error);
}

}  // namespace
}  // namespace kiln::runtime
