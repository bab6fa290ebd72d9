#include <gtest/gtest.h>

#include "core/check.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

using testing::J;

std::vector<int32_t> run(const Model& m, std::string_view word) {
  std::vector<int32_t> ids;
  m.tokenize(word, ids);
  return ids;
}

// a b c ab bc abc; merges a+b (rank 0), ab+c (rank 1), b+c (rank 2).
nlohmann::json tiny() {
  return J(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5,
               "<unk>": 6}, "merges": ["a b", "ab c", "b c"], "unk_token": "<unk>"})");
}

TEST(TokenizerBpe, AppliesMergesByRank) {
  auto m = make_bpe_model(tiny());
  EXPECT_EQ(run(*m, "abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(run(*m, "bc"), (std::vector<int32_t>{4}));
  EXPECT_EQ(run(*m, "cab"), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(run(*m, "abab"), (std::vector<int32_t>{3, 3}));
  // Cached second call gives the same result.
  EXPECT_EQ(run(*m, "abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(m->vocab_size(), 7);
}

TEST(TokenizerBpe, MergesAsPairs) {
  auto cfg = tiny();
  cfg["merges"] = J(R"([["a", "b"], ["ab", "c"], ["b", "c"]])");
  EXPECT_EQ(run(*make_bpe_model(cfg), "abcbc"), (std::vector<int32_t>{5, 4}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  auto m = make_bpe_model(J(R"({"type": "BPE", "vocab": {"a": 0, "aa": 1},
                                 "merges": ["a a"]})"));
  EXPECT_EQ(run(*m, "aaa"), (std::vector<int32_t>{1, 0}));
}

TEST(TokenizerBpe, UnknownCharsUseUnkAndFuse) {
  auto cfg = tiny();
  EXPECT_EQ(run(*make_bpe_model(cfg), "axyb"), (std::vector<int32_t>{0, 6, 6, 1}));
  cfg["fuse_unk"] = true;
  EXPECT_EQ(run(*make_bpe_model(cfg), "axyb"), (std::vector<int32_t>{0, 6, 1}));
}

TEST(TokenizerBpe, ByteFallback) {
  auto m = make_bpe_model(J(R"({"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
      "vocab": {"<unk>": 0, "<0xC3>": 1, "<0xA9>": 2, "a": 3}, "merges": []})"));
  EXPECT_EQ(run(*m, "a\xC3\xA9"), (std::vector<int32_t>{3, 1, 2}));
  EXPECT_EQ(run(*m, "\xE2\x96\x81"), (std::vector<int32_t>{0}));  // bytes missing -> unk
}

TEST(TokenizerBpe, SubwordPrefixAndSuffix) {
  auto m = make_bpe_model(J(R"({"type": "BPE", "continuing_subword_prefix": "##",
      "end_of_word_suffix": "</w>",
      "vocab": {"a": 0, "##b": 1, "##c</w>": 2, "a##b": 3, "ab": 4, "ab##c</w>": 5, "abc</w>": 6},
      "merges": ["a ##b", "ab ##c</w>"]})"));
  EXPECT_EQ(run(*m, "abc"), (std::vector<int32_t>{6}));
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWords) {
  auto cfg = J(R"({"type": "BPE", "ignore_merges": true,
      "vocab": {"a": 0, "b": 1, "ab": 2, "abb": 3}, "merges": ["a b"]})");
  EXPECT_EQ(run(*make_bpe_model(cfg), "abb"), (std::vector<int32_t>{3}));
  cfg["ignore_merges"] = false;
  EXPECT_EQ(run(*make_bpe_model(cfg), "abb"), (std::vector<int32_t>{2, 1}));
}

TEST(TokenizerBpe, MergesWithUnknownTokensAreErrors) {
  auto cfg = tiny();
  cfg["merges"] = J(R"(["a z"])");
  EXPECT_THROW(make_bpe_model(cfg), Error);
  cfg["merges"] = J(R"(["c a"])");  // "ca" is not in the vocab
  try {
    make_bpe_model(cfg);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ca'"), std::string::npos) << e.what();
  }
  cfg["merges"] = J(R"(["abc"])");
  EXPECT_THROW(make_bpe_model(cfg), Error);
  cfg = tiny();
  cfg["unk_token"] = "<missing>";
  EXPECT_THROW(make_bpe_model(cfg), Error);
}

TEST(TokenizerBpe, LongWordIsLinearithmic) {
  auto m = make_bpe_model(tiny());
  std::string word;
  for (int i = 0; i < 200000; ++i) word += "abc";
  EXPECT_EQ(run(*m, word).size(), 200000u);
}

}  // namespace
}  // namespace kiln::tok
