// src/eval metrics against goldens from sacrebleu, rouge_score and NLTK
// (tools/make_eval_goldens.py -> tests/fixtures/eval/goldens.json).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "eval/bleu.h"
#include "eval/porter_stemmer.h"
#include "eval/rouge.h"

namespace kiln::eval {
namespace {

const nlohmann::json& goldens() {
  static const nlohmann::json j = [] {
    std::ifstream f(std::string(KILN_SOURCE_DIR) + "/tests/fixtures/eval/goldens.json");
    EXPECT_TRUE(f.good()) << "missing tests/fixtures/eval/goldens.json";
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return j;
}

constexpr double kTol = 1e-9;

TEST(EvalMetrics, Tokenize13aMatchesSacrebleu) {
  for (const auto& c : goldens()["tokenize_13a"]) {
    const std::string in = c["in"];
    // The golden is tokenizer(s.rstrip()), as BLEU applies it.
    std::string s = in;
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) s.pop_back();
    EXPECT_EQ(tokenize_13a(s), c["out"].get<std::string>()) << "input: " << in;
  }
}

TEST(EvalMetrics, CorpusBleuAndChrfMatchSacrebleu) {
  for (const auto& c : goldens()["bleu"]) {
    const auto hyps = c["hyps"].get<std::vector<std::string>>();
    const auto refs = c["refs"].get<std::vector<std::string>>();
    const BleuScore b = corpus_bleu(hyps, refs);
    const std::string name = c["name"];
    EXPECT_NEAR(b.score, c["bleu"].get<double>(), kTol) << name;
    EXPECT_NEAR(b.bp, c["bp"].get<double>(), kTol) << name;
    EXPECT_EQ(b.sys_len, c["sys_len"].get<int64_t>()) << name;
    EXPECT_EQ(b.ref_len, c["ref_len"].get<int64_t>()) << name;
    EXPECT_EQ(b.correct, c["counts"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(b.total, c["totals"].get<std::vector<int64_t>>()) << name;
    const auto prec = c["precisions"].get<std::vector<double>>();
    for (size_t n = 0; n < prec.size(); ++n) EXPECT_NEAR(b.precisions[n], prec[n], kTol) << name;
    EXPECT_NEAR(corpus_chrf(hyps, refs), c["chrf"].get<double>(), kTol) << name;
  }
}

TEST(EvalMetrics, BleuRejectsSizeMismatch) {
  EXPECT_THROW(corpus_bleu({"a"}, {"a", "b"}), kiln::Error);
  EXPECT_THROW(corpus_chrf({"a", "b"}, {"a"}), kiln::Error);
  EXPECT_THROW(corpus_rouge({"a"}, {}, false), kiln::Error);
}

TEST(EvalMetrics, BleuOfEmptyCorpusIsZero) {
  EXPECT_EQ(corpus_bleu({}, {}).score, 0.0);
  EXPECT_EQ(corpus_chrf({}, {}), 0.0);
}

TEST(EvalMetrics, PorterStemmerMatchesNltk) {
  int checked = 0;
  for (const auto& [word, stem] : goldens()["stems"].items()) {
    EXPECT_EQ(porter_stem(word), stem.get<std::string>()) << "word: " << word;
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(EvalMetrics, RougeMatchesRougeScore) {
  for (const auto& c : goldens()["rouge"]) {
    const std::string t = c["target"], p = c["prediction"];
    const bool stem = c["use_stemmer"];
    const RougeScores s = rouge_score(t, p, stem);
    const auto check = [&](const RougeScore& got, const char* key) {
      const auto want = c[key].get<std::vector<double>>();
      EXPECT_NEAR(got.precision, want[0], kTol) << key << " stem=" << stem << " pred: " << p;
      EXPECT_NEAR(got.recall, want[1], kTol) << key << " stem=" << stem << " pred: " << p;
      EXPECT_NEAR(got.fmeasure, want[2], kTol) << key << " stem=" << stem << " pred: " << p;
    };
    check(s.rouge1, "rouge1");
    check(s.rouge2, "rouge2");
    check(s.rougeL, "rougeL");
    check(s.rougeLsum, "rougeLsum");
  }
}

TEST(EvalMetrics, CorpusRougeIsTheMeanFMeasure) {
  for (bool stem : {false, true}) {
    std::vector<std::string> preds, refs;
    double r1 = 0, r2 = 0, rl = 0, rls = 0;
    for (const auto& c : goldens()["rouge"]) {
      if (c["use_stemmer"].get<bool>() != stem) continue;
      preds.push_back(c["prediction"]);
      refs.push_back(c["target"]);
      r1 += c["rouge1"][2].get<double>();
      r2 += c["rouge2"][2].get<double>();
      rl += c["rougeL"][2].get<double>();
      rls += c["rougeLsum"][2].get<double>();
    }
    const double n = static_cast<double>(preds.size());
    const RougeCorpus got = corpus_rouge(preds, refs, stem);
    EXPECT_NEAR(got.rouge1, r1 / n, kTol);
    EXPECT_NEAR(got.rouge2, r2 / n, kTol);
    EXPECT_NEAR(got.rougeL, rl / n, kTol);
    EXPECT_NEAR(got.rougeLsum, rls / n, kTol);
  }
}

}  // namespace
}  // namespace kiln::eval
