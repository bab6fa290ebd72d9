#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include <unistd.h>

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
  p.ignore_eos = true;  // as vLLM: eos is then no stop token, so min_new_tokens leaves it alone
  l = {0.f, 5.f, 4.f, 1.f};
  apply_logits_processors(l.data(), 4, p, {0}, 1, 1);
  EXPECT_EQ(l[1], 5.f);
  EXPECT_EQ(l[2], -std::numeric_limits<float>::infinity());
}

constexpr float X = -std::numeric_limits<float>::infinity();  // a filtered token

// Expected rows from transformers 5.23 warpers (generation/logits_process.py), applied in
// _get_logits_processor's order, e.g.
//   s = TemperatureLogitsWarper(0.7)(ids, row); s = TopKLogitsWarper(5)(ids, s);
//   s = TopPLogitsWarper(0.8)(ids, s); s = MinPLogitsWarper(0.2)(ids, s)
const std::vector<float> kRow = {1.5f, -0.3f, 2.2f, 0.9f, 2.2f, -1.7f, 0.1f, 1.9f, -0.8f, 0.4f};

std::vector<float> warped(const SamplingParams& p, std::vector<int32_t> ctx = {},
                          int64_t generated = 0) {
  std::vector<float> l = kRow;
  std::mt19937_64 rng(0);
  choose_token(l.data(), static_cast<int64_t>(l.size()), p, ctx, generated, rng);
  return l;
}

void expect_row(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) EXPECT_EQ(got[i], want[i]) << "token " << i;
    else EXPECT_NEAR(got[i], want[i], 1e-5) << "token " << i;
  }
}

TEST(Sampler, WarpersMatchHfOnHandRows) {
  SamplingParams p;
  p.do_sample = true;
  p.temperature = 0.7f;
  p.top_k = 5;
  p.top_p = 0.8f;
  p.min_p = 0.2f;
  expect_row(warped(p), {X, X, 3.142857f, X, 3.142857f, X, X, 2.714286f, X, X});
  p = SamplingParams{};
  p.do_sample = true;
  p.min_p = 0.3f;
  expect_row(warped(p), {1.5f, X, 2.2f, X, 2.2f, X, X, 1.9f, X, X});
  p.temperature = 2.f;  // min_p after temperature: a flatter distribution keeps more
  expect_row(warped(p), {0.75f, X, 1.1f, 0.45f, 1.1f, X, 0.05f, 0.95f, X, 0.2f});
  p = SamplingParams{};
  p.do_sample = true;
  p.top_k = 4;  // ties at the k-th logit stay
  expect_row(warped(p), {1.5f, X, 2.2f, X, 2.2f, X, X, 1.9f, X, X});
  p.top_k = 0;
  p.top_p = 0.5f;
  expect_row(warped(p), {X, X, 2.2f, X, 2.2f, X, X, X, X, X});
  // RepetitionPenalty(1.3), MinNewTokensLength(4, eos 4), Temperature(0.5), TopP(0.9), MinP(0.05)
  // over input_ids {2, 7, 7, 3} with one token generated.
  p = SamplingParams{};
  p.do_sample = true;
  p.repetition_penalty = 1.3f;
  p.min_new_tokens = 4;
  p.eos_token_ids = {4};
  p.temperature = 0.5f;
  p.top_k = 0;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  expect_row(warped(p, {2, 7, 7, 3}, 1), {3.f, X, 3.384616f, 1.384615f, X, X, X, 2.923077f, X, X});
}

TEST(Sampler, MinPSamplesOnlyWhatItKeepsInProportion) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  p.min_p = 0.5f;  // probs 0.4, 0.3, 0.2, 0.1: keeps 0.4 and 0.3 (>= 0.2), renormalised 4:3
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.2f),
                                     std::log(0.1f)};
  std::map<int32_t, int> count;
  std::mt19937_64 rng(5);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto l = logits;
    ++count[choose_token(l.data(), 4, p, {}, 0, rng)];
  }
  EXPECT_EQ(count[2] + count[3], 0);
  EXPECT_NEAR(count[0] / double(n), 4.0 / 7.0, 0.02);
  // Greedy ignores warpers.
  p.do_sample = false;
  EXPECT_EQ(pick(logits, p), 0);
}

TEST(Sampler, LogprobsAreRawLogSoftmax) {
  // torch.log_softmax(kRow): tokens 2 and 4 tie at -1.373666, then 7, 0, 3.
  const std::vector<double> want = {-2.0736661, -3.8736660, -1.3736660, -2.6736660, -1.3736660,
                                    -5.2736664, -3.4736662, -1.6736661, -4.3736658, -3.1736660};
  SamplingParams p;
  p.logprobs = 3;
  p.repetition_penalty = 5.f;  // processors change the choice, not the logprobs
  p.presence_penalty = 1.f;
  std::vector<float> l = kRow;
  std::mt19937_64 rng(0);
  TokenLogprobs lp;
  const int32_t t = choose_token(l.data(), 10, p, {9, 2}, 1, rng, &lp);
  EXPECT_EQ(t, 4);  // 2 is penalised
  EXPECT_EQ(lp.token, 4);
  EXPECT_NEAR(lp.logprob, want[4], 1e-5);
  EXPECT_EQ(lp.rank, 1);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 2);  // equal logprobs: lower id first
  EXPECT_EQ(lp.top[1].first, 4);
  EXPECT_EQ(lp.top[2].first, 7);
  for (const auto& [id, v] : lp.top) EXPECT_NEAR(v, want[id], 1e-5);

  // Sampling with temperature: still raw; rank counts strictly larger logits.
  p = SamplingParams{};
  p.do_sample = true;
  p.temperature = 0.3f;
  p.logprobs = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> a = kRow, b = kRow;
    std::mt19937_64 r1(seed), r2(seed);
    const int32_t plain = choose_token(a.data(), 10, p, {}, 0, r1);
    const int32_t with = choose_token(b.data(), 10, p, {}, 0, r2, &lp);
    EXPECT_EQ(plain, with);           // logprobs do not change the draw
    EXPECT_EQ(r1(), r2());            // nor the generator's state
    EXPECT_TRUE(lp.top.empty());
    EXPECT_NEAR(lp.logprob, want[with], 1e-5);
    int64_t rank = 1;
    for (float v : kRow) rank += v > kRow[with];
    EXPECT_EQ(lp.rank, rank);
  }
  // token_logprobs directly: all of the vocabulary, normalised.
  const TokenLogprobs all = token_logprobs(kRow.data(), 10, 5, 100);
  ASSERT_EQ(all.top.size(), 10u);
  double total = 0;
  for (const auto& [id, v] : all.top) total += std::exp(static_cast<double>(v));
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_EQ(all.rank, 10);
}

TEST(Sampler, SeededDeterminismWithEveryFeature) {
  SamplingParams p;
  p.do_sample = true;
  p.temperature = 0.9f;
  p.top_k = 8;
  p.top_p = 0.95f;
  p.min_p = 0.02f;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = 0.3f;
  p.frequency_penalty = 0.2f;
  p.min_new_tokens = 2;
  p.eos_token_ids = {0};
  p.logprobs = 2;
  auto generate = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int32_t> ctx = {3, 4, 5};
    std::mt19937_64 logit_gen(99);  // the same "model" for every run
    std::normal_distribution<float> nd(0.f, 2.f);
    for (int step = 0; step < 40; ++step) {
      std::vector<float> l(64);
      for (float& v : l) v = nd(logit_gen);
      TokenLogprobs lp;
      ctx.push_back(choose_token(l.data(), 64, p, ctx, step, rng, &lp));
      EXPECT_EQ(lp.top.size(), 2u);
      if (step < 2) EXPECT_NE(ctx.back(), 0);
    }
    return ctx;
  };
  EXPECT_EQ(generate(1), generate(1));
  EXPECT_EQ(generate(7), generate(7));
  EXPECT_NE(generate(1), generate(7));
}

TEST(SamplingParams, ValidatesTheNewFields) {
  auto bad = [](auto set) {
    SamplingParams p;
    set(p);
    EXPECT_THROW(p.validate(100), Error);
  };
  auto good = [](auto set) {
    SamplingParams p;
    set(p);
    EXPECT_NO_THROW(p.validate(100));
  };
  bad([](SamplingParams& p) { p.min_p = 1.5f; });
  bad([](SamplingParams& p) { p.min_p = -0.1f; });
  good([](SamplingParams& p) { p.min_p = 1.f; });
  bad([](SamplingParams& p) { p.presence_penalty = 2.5f; });
  bad([](SamplingParams& p) { p.frequency_penalty = -2.1f; });
  good([](SamplingParams& p) { p.frequency_penalty = -2.f; p.presence_penalty = 2.f; });
  bad([](SamplingParams& p) { p.logprobs = 21; });
  bad([](SamplingParams& p) { p.logprobs = -2; });
  good([](SamplingParams& p) { p.logprobs = 20; });
  bad([](SamplingParams& p) { p.n = 0; });
  bad([](SamplingParams& p) { p.n = 129; });
  good([](SamplingParams& p) { p.n = 4; });  // greedy n > 1: allowed, as vLLM
  bad([](SamplingParams& p) { p.num_beams = 0; });
  bad([](SamplingParams& p) { p.num_beams = 4; p.num_return_sequences = 5; });
  good([](SamplingParams& p) { p.num_beams = 4; p.num_return_sequences = 4; });
  bad([](SamplingParams& p) { p.num_beams = 4; p.n = 2; });
  bad([](SamplingParams& p) { p.num_return_sequences = 2; });  // greedy, no beams (HF)
  good([](SamplingParams& p) { p.num_return_sequences = 2; p.do_sample = true; });
  bad([](SamplingParams& p) { p.num_return_sequences = 0; });
  bad([](SamplingParams& p) { p.early_stopping = 3; });
  bad([](SamplingParams& p) { p.length_penalty = std::numeric_limits<float>::infinity(); });
  bad([](SamplingParams& p) { p.stop = {"ok", ""}; });
  bad([](SamplingParams& p) { p.stop_token_ids = {-1}; });
  SamplingParams p;
  p.num_beams = 2;
  p.do_sample = true;
  try {
    p.validate(100);
    ADD_FAILURE() << "beam sampling accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beam sampling is not supported"), std::string::npos);
  }
}

TEST(SamplingParams, LoadsBeamAndMinPDefaults) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kiln_sampling_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& json) {
    std::ofstream(dir / "generation_config.json") << json;
  };
  write(R"({"eos_token_id": [2, 3], "num_beams": 4, "length_penalty": 0.6,
            "early_stopping": "never", "num_return_sequences": 2, "min_p": 0.1,
            "max_new_tokens": 7})");
  SamplingParams p = load_generation_defaults(dir.string());
  EXPECT_EQ(p.num_beams, 4);
  EXPECT_FLOAT_EQ(p.length_penalty, 0.6f);
  EXPECT_EQ(p.early_stopping, 2);
  EXPECT_EQ(p.num_return_sequences, 2);
  EXPECT_FLOAT_EQ(p.min_p, 0.1f);
  EXPECT_EQ(p.eos_token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(p.resolve_max_new(100), 7);
  write(R"({"early_stopping": true, "min_p": null, "length_penalty": 2})");
  p = load_generation_defaults(dir.string());
  EXPECT_EQ(p.early_stopping, 1);
  EXPECT_EQ(p.min_p, 0.f);
  EXPECT_FLOAT_EQ(p.length_penalty, 2.f);
  EXPECT_EQ(p.num_beams, 1);
  write(R"({"early_stopping": false})");
  EXPECT_EQ(load_generation_defaults(dir.string()).early_stopping, 0);
  write(R"({"early_stopping": "sometimes"})");
  EXPECT_THROW(load_generation_defaults(dir.string()), Error);
  std::filesystem::remove_all(dir);
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
