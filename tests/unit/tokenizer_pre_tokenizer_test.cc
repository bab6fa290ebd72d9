#include <gtest/gtest.h>

#include "core/check.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

using testing::J;
using V = std::vector<std::string>;

V split(const char* config, const std::string& text) {
  return testing::pre_tokenize(*make_pre_tokenizer(J(config)), text);
}

V split_with(const std::string& pattern, const std::string& behavior, bool invert) {
  nlohmann::json cfg = {{"type", "Split"}, {"behavior", behavior}, {"invert", invert}};
  cfg["pattern"] =
      pattern == "-" ? nlohmann::json{{"String", "-"}} : nlohmann::json{{"Regex", pattern}};
  return testing::pre_tokenize(*make_pre_tokenizer(cfg), "a--b-c---");
}

// Expected values are what the `tokenizers` package returns.
TEST(TokenizerPreTokenizer, SplitBehaviours) {
  EXPECT_EQ(split_with("-", "Removed", false), (V{"a", "b", "c"}));
  EXPECT_EQ(split_with("-", "Isolated", false), (V{"a", "-", "-", "b", "-", "c", "-", "-", "-"}));
  EXPECT_EQ(split_with("-", "MergedWithPrevious", false), (V{"a-", "-", "b-", "c-", "-", "-"}));
  EXPECT_EQ(split_with("-", "MergedWithNext", false), (V{"a", "-", "-b", "-c", "-", "-", "-"}));
  EXPECT_EQ(split_with("-", "Contiguous", false), (V{"a", "--", "b", "-", "c", "---"}));
  EXPECT_EQ(split_with("-+", "Isolated", false), (V{"a", "--", "b", "-", "c", "---"}));
  EXPECT_EQ(split_with("-+", "MergedWithPrevious", false), (V{"a--", "b-", "c---"}));
  EXPECT_EQ(split_with("-+", "MergedWithNext", false), (V{"a", "--b", "-c", "---"}));
  EXPECT_EQ(split_with("-", "Removed", true), (V{"-", "-", "-", "-", "-", "-"}));
  EXPECT_EQ(split_with("-", "MergedWithPrevious", true), (V{"a", "-", "-b", "-c", "-", "-", "-"}));
  EXPECT_EQ(split_with("-", "MergedWithNext", true), (V{"a-", "-", "b-", "c-", "-", "-"}));
}

TEST(TokenizerPreTokenizer, WhitespaceDigitsPunctuation) {
  EXPECT_EQ(split(R"({"type": "Whitespace"})", "Hey friend!  How are you?!?"),
            (V{"Hey", "friend", "!", "How", "are", "you", "?!?"}));
  EXPECT_EQ(split(R"({"type": "WhitespaceSplit"})", " Hey\tfriend!\n x "),
            (V{"Hey", "friend!", "x"}));
  EXPECT_EQ(split(R"({"type": "Digits", "individual_digits": true})", "a12b345"),
            (V{"a", "1", "2", "b", "3", "4", "5"}));
  EXPECT_EQ(split(R"({"type": "Digits", "individual_digits": false})", "a12b345"),
            (V{"a", "12", "b", "345"}));
  EXPECT_EQ(split(R"({"type": "Punctuation"})", "Hey, you!?"), (V{"Hey", ",", " you", "!", "?"}));
  EXPECT_EQ(split(R"({"type": "BertPreTokenizer"})", "Hi, there!x"),
            (V{"Hi", ",", "there", "!", "x"}));
}

TEST(TokenizerPreTokenizer, Metaspace) {
  EXPECT_EQ(split(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"})",
                  "Hey my friend"),
            (V{"\u2581Hey", "\u2581my", "\u2581friend"}));
  EXPECT_EQ(split(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never"})",
                  "Hey my  friend"),
            (V{"Hey", "\u2581my", "\u2581", "\u2581friend"}));
  EXPECT_EQ(
      split(R"({"type": "Metaspace", "replacement": "\u2581", "split": false})", "Hey my friend"),
      (V{"\u2581Hey\u2581my\u2581friend"}));
  // "first" prepends only to the piece that starts the input.
  auto p = make_pre_tokenizer(J(R"({"type": "Metaspace", "prepend_scheme": "first"})"));
  std::vector<PreToken> words{{"a", true}, {"b", false}};
  p->pre_tokenize(words);
  EXPECT_EQ(words[0].text, "\u2581a");
  EXPECT_EQ(words[1].text, "b");
}

TEST(TokenizerPreTokenizer, ByteLevel) {
  EXPECT_EQ(split(R"({"type": "ByteLevel", "add_prefix_space": true})", "Hello world\n\n  it's"),
            (V{"\u0120Hello", "\u0120world", "\u010A\u010A\u0120", "\u0120it", "'s"}));
  EXPECT_EQ(split(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})",
                  "Hello world"),
            (V{"Hello\u0120world"}));
  EXPECT_EQ(split(R"({"type": "Sequence", "pretokenizers": [
                      {"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": true}]})",
                  "ab12 c"),
            (V{"ab", "1", "2", "c"}));
}

TEST(TokenizerPreTokenizer, ErrorsNameTheProblem) {
  EXPECT_THROW(split(R"({"type": "UnicodeScripts"})", "x"), Error);
  EXPECT_THROW(
      split(R"({"type": "Split", "pattern": {"String": "-"}, "behavior": "Sideways"})", "x"),
      Error);
}

}  // namespace
}  // namespace kiln::tok
