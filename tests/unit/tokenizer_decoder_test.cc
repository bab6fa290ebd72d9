#include <gtest/gtest.h>

#include "core/check.h"
#include "tokenizer/decoder.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

using testing::J;

std::string decode(const char* config, std::vector<std::string> tokens) {
  return make_decoder(J(config))->decode(std::move(tokens));
}

// Expected values are what the `tokenizers` package returns.
TEST(TokenizerDecoder, ByteLevel) {
  EXPECT_EQ(decode(R"({"type": "ByteLevel"})", {"\u0120Hello", "\u0120wor", "ld", "\u010A", "<x>"}),
            " Hello world\n<x>");
  // A lone continuation byte becomes U+FFFD.
  EXPECT_EQ(decode(R"({"type": "ByteLevel"})", {"\u00C3"}), "\uFFFD");
}

TEST(TokenizerDecoder, ByteFallbackFuseStripReplace) {
  EXPECT_EQ(decode(R"({"type": "ByteFallback"})",
                   {"<0x61>", "b", "<0xE2>", "<0x96>", "<0x81>", "<0xFF>", "c"}),
            "ab\uFFFD\uFFFD\uFFFD\uFFFDc");
  EXPECT_EQ(decode(R"({"type": "Strip", "content": " ", "start": 1, "stop": 1})", {"  a  ", " b"}),
            " a b");
  EXPECT_EQ(decode(R"({"type": "Sequence", "decoders": [
                        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                        {"type": "ByteFallback"}, {"type": "Fuse"},
                        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})",
                   {"\u2581Hi", "<0x0A>", "\u2581there"}),
            "Hi\n there");
}

TEST(TokenizerDecoder, MetaspaceWordPieceBpe) {
  EXPECT_EQ(decode(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"})",
                   {"\u2581Hey", "\u2581my", "\u2581\u2581friend"}),
            "Hey my  friend");
  EXPECT_EQ(decode(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never"})",
                   {"\u2581Hey", "\u2581my"}),
            " Hey my");
  EXPECT_EQ(decode(R"({"type": "WordPiece"})", {"un", "##able", "to", ".", "do", "n't"}),
            "unable to. don't");
  EXPECT_EQ(decode(R"({"type": "BPEDecoder"})", {"hel", "lo</w>", "world</w>"}), "hello world");
}

TEST(TokenizerDecoder, UnknownTypeIsAnError) {
  EXPECT_THROW(make_decoder(J(R"({"type": "CTC"})")), Error);
}

}  // namespace
}  // namespace kiln::tok
