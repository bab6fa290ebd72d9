#include <gtest/gtest.h>

#include <set>

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {
namespace {

TEST(TokenizerByteLevel, MapIsABijectionOntoPrintableChars) {
  const auto& map = byte_to_unicode();
  std::set<std::string> seen(map.begin(), map.end());
  EXPECT_EQ(seen.size(), 256u);
  for (int b = 0; b < 256; ++b) {
    char32_t c;
    decode_utf8(map[b], 0, &c);
    EXPECT_EQ(unicode_to_byte(c), b);
  }
}

TEST(TokenizerByteLevel, Gpt2Spellings) {
  const auto& map = byte_to_unicode();
  EXPECT_EQ(map['A'], "A");
  EXPECT_EQ(map[' '], "\xC4\xA0");   // Ġ U+0120
  EXPECT_EQ(map['\n'], "\xC4\x8A");  // Ċ U+010A
  EXPECT_EQ(map[0xAD], "\xC5\x83");  // soft hyphen is not printable: U+0143
  EXPECT_EQ(bytes_to_unicode_string("a b"),
            "a\xC4\xA0"
            "b");
  EXPECT_EQ(unicode_to_byte(U'\u2581'), -1);
}

TEST(TokenizerUnicode, LossyMatchesRust) {
  EXPECT_EQ(utf8_lossy("ok"), "ok");
  EXPECT_EQ(utf8_lossy("a\xFF"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");
  // A truncated 3-byte sequence is one maximal subpart -> one U+FFFD.
  EXPECT_EQ(utf8_lossy("\xE2\x96"), "\xEF\xBF\xBD");
  EXPECT_EQ(utf8_lossy("\xE2\x96"
                       "a"),
            "\xEF\xBF\xBD"
            "a");
  // Surrogates (ED A0..) are invalid byte by byte.
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(is_valid_utf8("\xE2\x96\x81"));
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));
}

TEST(TokenizerUnicode, CharacterClasses) {
  EXPECT_TRUE(is_whitespace(U'\u3000'));
  EXPECT_TRUE(is_whitespace(U'\u0085'));
  EXPECT_FALSE(is_whitespace(U'\u200B'));
  EXPECT_TRUE(is_numeric(U'\u2167'));
  EXPECT_TRUE(is_punctuation(U'$'));
  EXPECT_TRUE(is_punctuation(U'\u3001'));
  EXPECT_FALSE(is_punctuation(U'a'));
  EXPECT_TRUE(is_alphanumeric(U'\u4e2d'));
}

}  // namespace
}  // namespace kiln::tok
