#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/check.h"
#include "runtime/sampling/logits_processors.h"
#include "runtime/sampling/sampler.h"

namespace kiln::runtime {
namespace {

int32_t pick(std::vector<float> logits, const SamplingParams& p, std::vector<int32_t> ctx = {},
             uint64_t seed = 0, int64_t generated = 5) {
  std::mt19937_64 rng(seed);
  return choose_token(logits.data(), static_cast<int64_t>(logits.size()), p, ctx, generated, rng);
}

TEST(Sampler, GreedyTakesFirstMaximum) {
  SamplingParams p;
  EXPECT_EQ(pick({0.f, 3.f, 3.f, 1.f}, p), 1);
}

TEST(Sampler, RepetitionPenaltyAsHf) {
  SamplingParams p;
  p.repetition_penalty = 2.f;
  // token 1 (seen, positive) 3 -> 1.5; token 0 (seen, negative) stays below; token 2 unseen wins.
  EXPECT_EQ(pick({-1.f, 3.f, 2.f}, p, {0, 1, 1}), 2);
  std::vector<float> l = {-1.f, 3.f, 2.f};
  std::mt19937_64 rng;
  choose_token(l.data(), 3, p, {0, 1}, 1, rng);
  EXPECT_EQ(l[0], -2.f);
  EXPECT_EQ(l[1], 1.5f);
  EXPECT_EQ(l[2], 2.f);
}

TEST(Sampler, MinNewTokensMasksEos) {
  SamplingParams p;
  p.eos_token_ids = {1};
  p.min_new_tokens = 3;
  EXPECT_EQ(pick({0.f, 5.f, 1.f}, p, {}, 0, 2), 2);
  EXPECT_EQ(pick({0.f, 5.f, 1.f}, p, {}, 0, 3), 1);
}

TEST(Sampler, TopKOneIsGreedyAndSeedsRepeat) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 1;
  for (uint64_t s = 0; s < 20; ++s) EXPECT_EQ(pick({0.f, 1.f, 0.5f, 0.9f}, p, {}, s), 1);
  p.top_k = 0;
  std::vector<int32_t> a, b;
  for (uint64_t s = 0; s < 50; ++s) {
    a.push_back(pick({0.f, 1.f, 0.5f, 0.9f}, p, {}, s));
    b.push_back(pick({0.f, 1.f, 0.5f, 0.9f}, p, {}, s));
  }
  EXPECT_EQ(a, b);
}

TEST(Sampler, SamplingFollowsTheDistribution) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::map<int32_t, int> count;
  std::mt19937_64 rng(7);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto l = logits;
    ++count[choose_token(l.data(), 3, p, {}, 0, rng)];
  }
  EXPECT_NEAR(count[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(count[1] / double(n), 0.3, 0.02);
  EXPECT_NEAR(count[2] / double(n), 0.2, 0.02);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  p.top_p = 0.6f;  // probs 0.5, 0.3, 0.2: HF keeps {0, 1} (cumulative of the rest 0.2 <= 0.4)
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::mt19937_64 rng(1);
  int seen2 = 0, seen1 = 0;
  for (int i = 0; i < 2000; ++i) {
    auto l = logits;
    const int32_t t = choose_token(l.data(), 3, p, {}, 0, rng);
    seen2 += t == 2;
    seen1 += t == 1;
  }
  EXPECT_EQ(seen2, 0);
  EXPECT_GT(seen1, 0);
}

TEST(Sampler, TemperatureSharpens) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  p.temperature = 0.05f;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {1.f, 1.5f, 0.f};
    EXPECT_EQ(choose_token(l.data(), 3, p, {}, 0, rng), 1);
  }
}

TEST(LogitsProcessors, PresenceFrequencyCountOnlyGeneratedTokens) {
  SamplingParams p;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  // prompt {0, 1}, generated {1, 2, 2, 2}; id 9 and -1 (prompt-embedding rows) are ignored.
  std::vector<float> l = {1.f, 1.f, 1.f, 1.f};
  apply_logits_processors(l.data(), 4, p, {0, 1, 9, 1, 2, 2, -1, 2}, 3, 5);
  EXPECT_FLOAT_EQ(l[0], 1.f);                // only in the prompt
  EXPECT_FLOAT_EQ(l[1], 1.f - 0.5f - 0.25f);  // once generated
  EXPECT_FLOAT_EQ(l[2], 1.f - 0.5f - 0.75f);  // three times
  EXPECT_FLOAT_EQ(l[3], 1.f);
  p.presence_penalty = -1.f;  // negative values encourage repetition
  p.frequency_penalty = 0.f;
  l = {1.f, 1.f, 1.f, 1.f};
  apply_logits_processors(l.data(), 4, p, {0, 3}, 1, 1);
  EXPECT_FLOAT_EQ(l[3], 2.f);
  EXPECT_FLOAT_EQ(l[0], 1.f);
}

TEST(LogitsProcessors, HfOrderRepetitionThenAdditivePenalties) {
  SamplingParams p;
  p.repetition_penalty = 2.f;
  p.presence_penalty = 1.f;
  // token 1 in the prompt and generated twice: 3 / 2 (once, not per occurrence) - 1 = 0.5.
  std::vector<float> l = {-1.f, 3.f, 2.f};
  apply_logits_processors(l.data(), 3, p, {1, 0, 1, 1}, 2, 2);
  EXPECT_FLOAT_EQ(l[1], 0.5f);
  EXPECT_FLOAT_EQ(l[0], -2.f);  // prompt only: repetition penalty, no presence penalty
  EXPECT_FLOAT_EQ(l[2], 2.f);
}

TEST(LogitsProcessors, MinNewTokensMasksEosAndStopTokenIds) {
  SamplingParams p;
  p.eos_token_ids = {1, 7};  // 7 is outside the vocabulary: ignored
  p.stop_token_ids = {2};
  p.min_new_tokens = 2;
  std::vector<float> l = {0.f, 5.f, 4.f, 1.f};
  apply_logits_processors(l.data(), 4, p, {0}, 1, 1);
  EXPECT_EQ(l[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(l[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(l[3], 1.f);
  l = {0.f, 5.f, 4.f, 1.f};
  apply_logits_processors(l.data(), 4, p, {0, 3, 3}, 1, 2);
  EXPECT_EQ(l[1], 5.f);
  EXPECT_EQ(l[2], 4.f);
  EXPECT_EQ(pick({0.f, 5.f, 4.f, 1.f}, p, {0, 3}, 0, 1), 3);
}

TEST(SamplingParams, ValidationAndMaxLength) {
  SamplingParams p;
  EXPECT_EQ(p.resolve_max_new(5), 15);  // HF default max_length = 20
  p.max_new_tokens = 3;
  EXPECT_EQ(p.resolve_max_new(50), 3);
  p.temperature = 0.f;
  EXPECT_THROW(p.validate(10), Error);
  p.temperature = 1.f;
  p.top_p = 1.5f;
  EXPECT_THROW(p.validate(10), Error);
  p.top_p = 1.f;
  p.repetition_penalty = -1.f;
  EXPECT_THROW(p.validate(10), Error);
}

}  // namespace
}  // namespace kiln::runtime
