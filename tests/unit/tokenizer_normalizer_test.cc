#include <gtest/gtest.h>

#include "core/check.h"
#include "tokenizer/normalizer.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

using testing::J;

std::string norm(const char* config, std::string text) {
  make_normalizer(J(config))->normalize(text);
  return text;
}

TEST(TokenizerNormalizer, UnicodeForms) {
  EXPECT_EQ(norm(R"({"type": "NFD"})", "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(norm(R"({"type": "NFC"})", "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(norm(R"({"type": "NFKC"})", "\xEF\xAC\x81\xE2\x91\xA0"), "fi1");  // ﬁ①
  EXPECT_EQ(norm(R"({"type": "NFKD"})", "\xC2\xBD"),
            "1\xE2\x81\x84"
            "2");  // ½
}

TEST(TokenizerNormalizer, LowercaseStripPrependReplace) {
  // No final-sigma rule; İ lowercases to i + combining dot (Rust char::to_lowercase).
  EXPECT_EQ(norm(R"({"type": "Lowercase"})", "HeLLo \xC4\xB0 \xCE\xA3\xCE\x91"),
            "hello i\xCC\x87 \xCF\x83\xCE\xB1");
  EXPECT_EQ(norm(R"({"type": "Strip"})", "  x y \t"), "x y");
  EXPECT_EQ(norm(R"({"type": "Strip", "strip_left": false, "strip_right": true})", "  x  "), "  x");
  EXPECT_EQ(norm(R"({"type": "Prepend", "prepend": "_"})", "ab"), "_ab");
  EXPECT_EQ(norm(R"({"type": "Prepend", "prepend": "_"})", ""), "");
  EXPECT_EQ(norm(R"({"type": "Replace", "pattern": {"String": " "}, "content": "_"})", "a b  c"),
            "a_b__c");
  EXPECT_EQ(
      norm(R"({"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "})", "a \t\n b"),
      "a b");
  EXPECT_EQ(norm(R"({"type": "StripAccents"})", "cafe\xCC\x81"), "cafe");
}

TEST(TokenizerNormalizer, SequenceAndBert) {
  EXPECT_EQ(norm(R"({"type": "Sequence", "normalizers": [
                    {"type": "Prepend", "prepend": "\u2581"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]})",
                 "a b"),
            "\xE2\x96\x81"
            "a\xE2\x96\x81"
            "b");
  EXPECT_EQ(
      norm(R"({"type": "BertNormalizer"})", std::string("H\xC3\xA9llo\xE4\xB8\xADX\0\tY", 13)),
      "hello \xE4\xB8\xAD x y");
}

TEST(TokenizerNormalizer, UnsupportedTypesAreErrors) {
  EXPECT_THROW(make_normalizer(J(R"({"type": "Precompiled", "precompiled_charsmap": "AAAA"})")),
               Error);
  EXPECT_EQ(norm(R"({"type": "Precompiled", "precompiled_charsmap": null})", "Ab"), "Ab");
  EXPECT_THROW(make_normalizer(J(R"({"type": "Nope"})")), Error);
  EXPECT_THROW(
      make_normalizer(J(R"({"type": "Replace", "pattern": {"Regex": "("}, "content": ""})")),
      Error);
  EXPECT_EQ(make_normalizer(nlohmann::json()), nullptr);
}

}  // namespace
}  // namespace kiln::tok
