// HF generation_config processors (no_repeat_ngram_size, encoder_no_repeat_ngram_size,
// bad_words_ids, min_length, forced BOS/EOS, suppress_tokens, begin_suppress_tokens) against
// transformers' own processors: tests/fixtures/processors/cases.json, written by
// tools/make_processor_fixtures.py. Each case's fields go through load_generation_defaults (a
// generation_config.json in a temp folder), so loading is exercised too; rows must match HF's on
// the greedy path (raw logits) and the beam path (log_softmax first). The "generate" part replays
// HF generate() (greedy and beam search) on a tiny table model through kiln's host sampler and
// BeamSearch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/check.h"
#include "runtime/sampling/beam_search.h"
#include "runtime/sampling/logits_processors.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {
namespace {

using nlohmann::json;
constexpr float kInf = std::numeric_limits<float>::infinity();

const json& fixture() {
  static const json j = [] {
    std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/fixtures/processors/cases.json");
    EXPECT_TRUE(in.good()) << "missing tests/fixtures/processors/cases.json";
    return json::parse(in);
  }();
  return j;
}

float to_float(const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "-inf") return -kInf;
    if (s == "inf") return kInf;
    return std::numeric_limits<float>::quiet_NaN();
  }
  return v.get<float>();
}

std::vector<float> floats(const json& a) {
  std::vector<float> out;
  for (const json& v : a) out.push_back(to_float(v));
  return out;
}

// A temp folder holding one generation_config.json (or config.json).
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln_processors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }
  void remove(const std::string& name) const { std::filesystem::remove(dir_ / name); }
  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

SamplingParams params_from(const json& fields) {
  TempDir d;
  d.write("generation_config.json", fields.dump());
  return load_generation_defaults(d.path());
}

void expect_rows_near(const std::vector<float>& got, const std::vector<float>& want, float tol,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << what << " token " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol * std::max(1.f, std::fabs(want[i])))
          << what << " token " << i;
    }
  }
}

TEST(Processors, MatchHfProcessorsOnFixedRows) {
  const json& f = fixture();
  const int64_t vocab = f.at("vocab").get<int64_t>();
  ASSERT_GE(f.at("cases").size(), 20u);
  for (const json& c : f.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const SamplingParams p = params_from(c.at("fields"));
    EXPECT_NO_THROW(p.validate(vocab));
    EXPECT_TRUE(p.needs_host_processors() || p.min_new_tokens > 0);
    const std::vector<int32_t> ctx = c.at("input_ids").get<std::vector<int32_t>>();
    const int64_t prompt_len = c.at("prompt_len").get<int64_t>();
    std::vector<int32_t> enc;
    const std::vector<int32_t>* enc_ptr = nullptr;
    if (!c.at("encoder_ids").is_null()) {
      enc = c.at("encoder_ids").get<std::vector<int32_t>>();
      enc_ptr = &enc;
    }
    const std::vector<float> logits = floats(c.at("logits"));
    std::vector<float> greedy = logits;
    apply_logits_processors(greedy.data(), vocab, p, ctx, prompt_len,
                            static_cast<int64_t>(ctx.size()) - prompt_len, enc_ptr);
    expect_rows_near(greedy, floats(c.at("greedy")), 1e-6f, name + " greedy");
    std::vector<float> beam = logits;
    beam_logprobs(beam.data(), vocab, p, ctx, prompt_len, enc_ptr);
    expect_rows_near(beam, floats(c.at("beam")), 2e-6f, name + " beam");
  }
}

// The order is HF's: the fixture's order cases combine processors whose order matters (forced
// tokens overwrite earlier bans; suppress_tokens after forced EOS bans one of the forced ids).
TEST(Processors, OrderCasesCoverEveryProcessor) {
  std::vector<std::string> seen;
  for (const json& c : fixture().at("cases"))
    if (c.at("name").get<std::string>().rfind("order_", 0) == 0)
      for (const json& n : c.at("processors")) seen.push_back(n.get<std::string>());
  for (const char* want :
       {"RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
        "EncoderNoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
        "MinLengthLogitsProcessor", "ForcedBOSTokenLogitsProcessor",
        "ForcedEOSTokenLogitsProcessor", "SuppressTokensLogitsProcessor",
        "SuppressTokensAtBeginLogitsProcessor"})
    EXPECT_NE(std::find(seen.begin(), seen.end(), want), seen.end()) << want;
}

// The fixture's table model: logits at the last position = W[last token] + U[position].
struct TableModel {
  std::vector<std::vector<float>> w, u;
  std::vector<float> row(const std::vector<int32_t>& seq) const {
    std::vector<float> r(w[0].size());
    const auto& a = w.at(seq.back());
    const auto& b = u.at(seq.size() - 1);
    for (size_t i = 0; i < r.size(); ++i) r[i] = a[i] + b[i];
    return r;
  }
};

std::vector<int32_t> trim_at_eos(std::vector<int32_t> t, const std::vector<int32_t>& eos) {
  for (size_t i = 0; i < t.size(); ++i)
    if (std::find(eos.begin(), eos.end(), t[i]) != eos.end()) {
      t.resize(i + 1);
      break;
    }
  return t;
}

TEST(Processors, GenerateMatchesHfGreedyAndBeamSearch) {
  const json& g = fixture().at("generate");
  const int64_t vocab = fixture().at("vocab").get<int64_t>();
  TableModel m;
  for (const json& r : g.at("w")) m.w.push_back(floats(r));
  for (const json& r : g.at("u")) m.u.push_back(floats(r));
  ASSERT_EQ(static_cast<int64_t>(m.w.size()), vocab);
  for (const json& run : g.at("runs")) {
    const std::string name = run.at("name").get<std::string>();
    SCOPED_TRACE(name);
    const SamplingParams p = params_from(run.at("fields"));
    p.validate(vocab);
    const std::vector<int32_t> prompt = run.at("prompt").get<std::vector<int32_t>>();
    const int64_t prompt_len = static_cast<int64_t>(prompt.size());
    const auto want = run.at("sequences").get<std::vector<std::vector<int32_t>>>();
    if (p.num_beams == 1) {
      std::vector<int32_t> seq = prompt;
      std::mt19937_64 rng(0);
      const int64_t max_new = p.resolve_max_new(prompt_len);
      for (int64_t step = 0; step < max_new; ++step) {
        std::vector<float> row = m.row(seq);
        const int32_t t = choose_token(row.data(), vocab, p, seq, step, rng);
        seq.push_back(t);
        if (std::find(p.eos_token_ids.begin(), p.eos_token_ids.end(), t) != p.eos_token_ids.end())
          break;
      }
      EXPECT_EQ(std::vector<int32_t>(seq.begin() + prompt_len, seq.end()), want.at(0));
      continue;
    }
    BeamSearch bs(BeamParams::from(p, prompt_len), vocab);
    while (!bs.done()) {
      const int rows = bs.num_running();
      std::vector<float> lp(static_cast<size_t>(rows) * vocab);
      for (int i = 0; i < rows; ++i) {
        std::vector<int32_t> ctx = prompt;
        const std::vector<int32_t>& gen = bs.running_tokens(i);
        ctx.insert(ctx.end(), gen.begin(), gen.end());
        std::vector<float> row = m.row(ctx);
        beam_logprobs(row.data(), vocab, p, ctx, prompt_len);
        std::copy(row.begin(), row.end(), lp.begin() + static_cast<int64_t>(i) * vocab);
      }
      bs.step(lp.data(), rows);
    }
    const std::vector<BeamSearch::Hypothesis> hyps = bs.finalize();
    const auto scores = run.at("scores").get<std::vector<double>>();
    ASSERT_EQ(hyps.size(), want.size());
    for (size_t k = 0; k < hyps.size(); ++k) {
      EXPECT_EQ(hyps[k].tokens, trim_at_eos(want[k], p.eos_token_ids)) << "hypothesis " << k;
      EXPECT_NEAR(hyps[k].score, scores[k], 1e-5) << "hypothesis " << k;
    }
  }
}

TEST(Processors, DirectSemantics) {
  SamplingParams p;
  p.eos_token_ids = {1};
  std::vector<float> l(8, 0.f);
  // forced BOS only when the sequence has one token; the forced id scores 0, the rest -inf.
  p.forced_bos_token_id = 5;
  apply_logits_processors(l.data(), 8, p, {0}, 1, 0);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(l[i], i == 5 ? 0.f : -kInf);
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 5}, 1, 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(l[i], 1.f);
  // forced EOS at the last step: max_new_tokens 3 after a 1-token decoder prompt -> cur_len 3.
  p = SamplingParams();
  p.max_new_tokens = 3;
  p.forced_eos_token_ids = {1, 2};
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 4}, 1, 1);
  EXPECT_EQ(l[3], 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 4, 6}, 1, 2);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(l[i], (i == 1 || i == 2) ? 0.f : -kInf);
  // min_length counts the whole sequence and masks stop ids like min_new_tokens; min_new_tokens
  // > 0 replaces it (HF).
  p = SamplingParams();
  p.eos_token_ids = {1};
  p.stop_token_ids = {2};
  p.min_length = 4;
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 3, 3}, 2, 1);
  EXPECT_EQ(l[1], -kInf);
  EXPECT_EQ(l[2], -kInf);
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 3, 3, 3}, 2, 2);
  EXPECT_EQ(l[1], 1.f);
  p.min_new_tokens = 1;
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 3, 3}, 2, 1);
  EXPECT_EQ(l[1], 1.f);
  // encoder_no_repeat_ngram_size with explicit encoder ids ignores the decoder prompt.
  p = SamplingParams();
  p.encoder_no_repeat_ngram_size = 2;
  const std::vector<int32_t> enc = {6, 7};
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 6}, 1, 1, &enc);
  EXPECT_EQ(l[7], -kInf);
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {0, 6}, 1, 1);  // decoder-only: the prompt {0}
  EXPECT_EQ(l[7], 1.f);
  // Out-of-vocabulary ids in the sequence (prompt-embedding rows) never index the row.
  p = SamplingParams();
  p.no_repeat_ngram_size = 1;
  std::fill(l.begin(), l.end(), 1.f);
  apply_logits_processors(l.data(), 8, p, {100, 3}, 1, 1);
  EXPECT_EQ(l[3], -kInf);
}

TEST(Processors, HostSamplerAppliesThemBeforeWarpers) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 1;  // after the processors: the best surviving token
  p.bad_words_ids = {{3}};
  std::vector<float> l = {0.f, 1.f, 2.f, 9.f};
  std::mt19937_64 rng(1);
  EXPECT_EQ(choose_token(l.data(), 4, p, {0}, 0, rng), 2);
  p.do_sample = false;
  p.suppress_tokens = {2};
  l = {0.f, 1.f, 2.f, 9.f};
  EXPECT_EQ(choose_token(l.data(), 4, p, {0}, 0, rng), 1);
}

TEST(Processors, NeedsHostProcessors) {
  SamplingParams p;
  EXPECT_FALSE(p.needs_host_processors());
  p.decoder_start_token_id = 3;  // not a processor
  EXPECT_FALSE(p.needs_host_processors());
  const auto with = [](auto set) {
    SamplingParams q;
    set(q);
    return q.needs_host_processors();
  };
  EXPECT_TRUE(with([](SamplingParams& q) { q.no_repeat_ngram_size = 3; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.encoder_no_repeat_ngram_size = 3; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.bad_words_ids = {{1}}; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.min_length = 2; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.forced_bos_token_id = 0; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.forced_eos_token_ids = {2}; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.suppress_tokens = {2}; }));
  EXPECT_TRUE(with([](SamplingParams& q) { q.begin_suppress_tokens = {2}; }));
}

void expect_error(const SamplingParams& p, int64_t vocab, const std::string& needle) {
  try {
    p.validate(vocab);
    ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Processors, ValidationErrors) {
  const auto with = [](auto set) {
    SamplingParams q;
    set(q);
    return q;
  };
  EXPECT_NO_THROW(SamplingParams().validate(10));
  expect_error(with([](SamplingParams& q) { q.no_repeat_ngram_size = -1; }), 10,
               "no_repeat_ngram_size must be >= 0");
  expect_error(with([](SamplingParams& q) { q.encoder_no_repeat_ngram_size = -2; }), 10,
               "encoder_no_repeat_ngram_size must be >= 0");
  expect_error(with([](SamplingParams& q) { q.min_length = -1; }), 10, "min_length must be >= 0");
  expect_error(with([](SamplingParams& q) { q.forced_bos_token_id = 10; }), 10,
               "forced_bos_token_id 10 is outside the vocabulary [0, 10)");
  expect_error(with([](SamplingParams& q) { q.forced_bos_token_id = -3; }), 10,
               "forced_bos_token_id -3");
  expect_error(with([](SamplingParams& q) { q.forced_eos_token_ids = {2, 12}; }), 10,
               "forced_eos_token_id 12");
  expect_error(with([](SamplingParams& q) { q.decoder_start_token_id = 99; }), 10,
               "decoder_start_token_id 99");
  expect_error(with([](SamplingParams& q) { q.bad_words_ids = {{1}, {2, 30}}; }), 10,
               "bad_words_ids token 30");
  expect_error(with([](SamplingParams& q) { q.bad_words_ids = {{1}, {}}; }), 10,
               "bad_words_ids[1] is empty");
  expect_error(with([](SamplingParams& q) { q.suppress_tokens = {-1}; }), 10, "suppress_tokens");
  expect_error(with([](SamplingParams& q) { q.begin_suppress_tokens = {10}; }), 10,
               "begin_suppress_tokens");
  // -1 means unset for the single ids.
  EXPECT_NO_THROW(with([](SamplingParams& q) {
                    q.forced_bos_token_id = -1;
                    q.decoder_start_token_id = -1;
                  }).validate(10));
}

TEST(Processors, LoadsGenerationConfigFields) {
  TempDir d;
  // Marian (opus-mt) style generation_config.json.
  d.write("config.json", R"({"decoder_start_token_id": 7})");
  d.write("generation_config.json", R"({
    "bad_words_ids": [[58100]], "bos_token_id": 0, "decoder_start_token_id": 58100,
    "eos_token_id": 0, "forced_eos_token_id": 0, "max_length": 512, "num_beams": 4,
    "pad_token_id": 58100, "no_repeat_ngram_size": null, "forced_bos_token_id": null})");
  SamplingParams p = load_generation_defaults(d.path());
  EXPECT_EQ(p.bad_words_ids, (std::vector<std::vector<int32_t>>{{58100}}));
  EXPECT_EQ(p.decoder_start_token_id, 58100);
  EXPECT_EQ(p.decoder_start(), 58100);
  EXPECT_EQ(p.forced_eos_token_ids, (std::vector<int32_t>{0}));
  EXPECT_EQ(p.forced_bos_token_id, -1);
  EXPECT_EQ(p.no_repeat_ngram_size, 0);
  EXPECT_EQ(p.num_beams, 4);
  EXPECT_EQ(p.max_length, 512);
  EXPECT_TRUE(p.needs_host_processors());
  EXPECT_NO_THROW(p.validate(58101));
  EXPECT_THROW(p.validate(58100), Error);  // [[58100]] outside a 58100-token vocabulary

  // Whisper-style lists and an mBART-style forced BOS; decoder_start_token_id absent: HF does not
  // read config.json's then, it falls back to bos_token_id.
  d.write("generation_config.json", R"({
    "suppress_tokens": [1, 2, 7], "begin_suppress_tokens": [220, 50257], "bos_token_id": 3,
    "forced_bos_token_id": 250004, "forced_eos_token_id": [2, 5], "min_length": 3,
    "encoder_no_repeat_ngram_size": 4})");
  p = load_generation_defaults(d.path());
  EXPECT_EQ(p.suppress_tokens, (std::vector<int32_t>{1, 2, 7}));
  EXPECT_EQ(p.begin_suppress_tokens, (std::vector<int32_t>{220, 50257}));
  EXPECT_EQ(p.forced_bos_token_id, 250004);
  EXPECT_EQ(p.forced_eos_token_ids, (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(p.min_length, 3);
  EXPECT_EQ(p.encoder_no_repeat_ngram_size, 4);
  EXPECT_EQ(p.decoder_start_token_id, -1);
  EXPECT_EQ(p.decoder_start(), 3);

  // No generation_config.json: HF reads config.json's generation fields (BART-style).
  d.remove("generation_config.json");
  d.write("config.json", R"({
    "model_type": "bart", "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
    "decoder_start_token_id": 2, "forced_bos_token_id": 0, "forced_eos_token_id": 2,
    "no_repeat_ngram_size": 3, "min_length": 56, "max_length": 142, "num_beams": 4,
    "length_penalty": 2.0, "early_stopping": true})");
  p = load_generation_defaults(d.path());
  EXPECT_EQ(p.decoder_start_token_id, 2);
  EXPECT_EQ(p.forced_bos_token_id, 0);
  EXPECT_EQ(p.forced_eos_token_ids, (std::vector<int32_t>{2}));
  EXPECT_EQ(p.no_repeat_ngram_size, 3);
  EXPECT_EQ(p.min_length, 56);
  EXPECT_EQ(p.max_length, 142);
  EXPECT_EQ(p.num_beams, 4);
  EXPECT_FLOAT_EQ(p.length_penalty, 2.f);
  EXPECT_EQ(p.early_stopping, 1);
  EXPECT_EQ(p.eos_token_ids, (std::vector<int32_t>{2}));

  // Malformed fields name the file and the key.
  for (const char* bad : {R"({"bad_words_ids": [1, 2]})", R"({"bad_words_ids": [[1, "x"]]})",
                          R"({"forced_bos_token_id": [1]})", R"({"no_repeat_ngram_size": 2.5})",
                          R"({"suppress_tokens": "1"})"}) {
    d.write("generation_config.json", bad);
    try {
      load_generation_defaults(d.path());
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("generation_config.json"), std::string::npos)
          << e.what();
    }
  }
}

// Beam search: a forced BOS leaves one live candidate per beam at the first step; the others
// score -inf, and every returned hypothesis starts with it; forced EOS ends them all at max length.
TEST(Processors, BeamSearchWithForcedTokens) {
  SamplingParams p;
  p.num_beams = 3;
  p.num_return_sequences = 3;
  p.max_new_tokens = 4;
  p.eos_token_ids = {1};
  p.forced_bos_token_id = 5;
  p.forced_eos_token_ids = {1};
  p.no_repeat_ngram_size = 1;  // every hypothesis uses distinct tokens
  const int64_t vocab = 8;
  const std::vector<int32_t> prompt = {0};
  BeamSearch bs(BeamParams::from(p, 1), vocab);
  while (!bs.done()) {
    const int rows = bs.num_running();
    std::vector<float> lp(static_cast<size_t>(rows) * vocab);
    for (int i = 0; i < rows; ++i) {
      std::vector<int32_t> ctx = prompt;
      ctx.insert(ctx.end(), bs.running_tokens(i).begin(), bs.running_tokens(i).end());
      for (int64_t t = 0; t < vocab; ++t)
        lp[i * vocab + t] = static_cast<float>((t * 7 + ctx.size() * 3) % 5) - (t == 1 ? 3.f : 0.f);
      beam_logprobs(lp.data() + i * vocab, vocab, p, ctx, 1);
    }
    bs.step(lp.data(), rows);
  }
  for (const BeamSearch::Hypothesis& h : bs.finalize()) {
    ASSERT_FALSE(h.tokens.empty());
    EXPECT_EQ(h.tokens.front(), 5);
    EXPECT_EQ(h.tokens.back(), 1);
    EXPECT_LE(h.tokens.size(), 4u);
    std::vector<int32_t> sorted = h.tokens;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
    EXPECT_TRUE(std::isfinite(h.score));
  }
}

}  // namespace
}  // namespace kiln::runtime
