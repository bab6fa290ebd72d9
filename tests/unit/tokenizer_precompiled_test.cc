// Precompiled (SentencePiece charsmap) normalizer parity with HF tokenizers:
// fixtures made by tools/make_spm_fixtures.py (tiny Unigram models under
// nmt_nfkc / nfkc_cf, converted by transformers' T5 converter) record HF's
// normalize_str, encode ids and decode for ~200 strings.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/check.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

using json = nlohmann::json;

std::string fixture_dir(const std::string &name) {
  return std::string(KILN_SOURCE_DIR) + "/tests/fixtures/tokenizers/" + name;
}

json read_json(const std::string &path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

class PrecompiledParity : public ::testing::TestWithParam<const char *> {};

TEST_P(PrecompiledParity, NormalizeEncodeDecodeMatchHf) {
  const std::string dir = fixture_dir(GetParam());
  const json config = read_json(dir + "/tokenizer.json");
  const json expected = read_json(dir + "/expected.json");
  ASSERT_EQ(config["normalizer"]["normalizers"][0]["type"], "Precompiled");
  const auto normalizer = make_normalizer(config["normalizer"]);
  const auto tokenizer = Tokenizer::from_file(dir + "/tokenizer.json");
  const auto &cases = expected.at("cases");
  ASSERT_GE(cases.size(), 150u);
  int mismatches = 0;
  for (const json &c : cases) {
    const std::string text = c.at("text").get<std::string>();
    std::string normalized = text;
    normalizer->normalize(normalized);
    const auto ids = tokenizer->encode(text);
    const auto want_ids = c.at("ids").get<std::vector<int32_t>>();
    const std::string decoded = tokenizer->decode(ids);
    const bool ok = normalized == c.at("normalized").get<std::string>() &&
                    ids == want_ids &&
                    decoded == c.at("decoded").get<std::string>();
    EXPECT_TRUE(ok) << "text: " << json(text).dump()
                    << "\n normalized: " << json(normalized).dump()
                    << "\n expected:   " << c.at("normalized").dump()
                    << "\n ids: " << json(ids).dump()
                    << "\n expected: " << json(want_ids).dump()
                    << "\n decoded: " << json(decoded).dump()
                    << "\n expected: " << c.at("decoded").dump();
    if (!ok && ++mismatches > 10)
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PrecompiledParity,
                         ::testing::Values("spm_nmt_nfkc", "spm_nfkc_cf",
                                           "spm_nmt_nfkc_remove_ws"));

json precompiled(const std::string &charsmap) {
  return json{{"type", "Precompiled"}, {"precompiled_charsmap", charsmap}};
}

std::string base64(const std::string &bytes) {
  static const char *k =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size())
      v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size())
      v |= static_cast<uint8_t>(bytes[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return out;
}

std::string charsmap_of(const std::string &name) {
  const json config = read_json(fixture_dir(name) + "/tokenizer.json");
  return decode_base64(
      config["normalizer"]["normalizers"][0]["precompiled_charsmap"]
          .get<std::string>());
}

std::string expect_error(const json &config) {
  try {
    make_normalizer(config);
  } catch (const kiln::Error &e) {
    return e.what();
  }
  ADD_FAILURE() << "no kiln::Error for " << config.dump();
  return "";
}

TEST(PrecompiledMalformed, Base64) {
  EXPECT_EQ(decode_base64("TWFu"), "Man");
  EXPECT_EQ(decode_base64("TWE="), "Ma");
  EXPECT_EQ(decode_base64("TQ=="), "M");
  EXPECT_NE(expect_error(precompiled("abc")).find("not valid base64"),
            std::string::npos);
  EXPECT_NE(expect_error(precompiled("ab!d")).find("not valid base64"),
            std::string::npos);
  EXPECT_NE(expect_error(precompiled("a=bc")).find("not valid base64"),
            std::string::npos);
  EXPECT_NE(expect_error(precompiled("TWF=")).find("not valid base64"),
            std::string::npos);
  EXPECT_NE(expect_error(precompiled("TW E")).find("not valid base64"),
            std::string::npos);
}

TEST(PrecompiledMalformed, TruncatedAndOversizedTrie) {
  EXPECT_NE(expect_error(precompiled(base64("ab"))).find("truncated"),
            std::string::npos);
  // Trie size 64 bytes, but only 8 follow.
  const std::string oversized =
      std::string("\x40\0\0\0", 4) + std::string(8, '\0');
  EXPECT_NE(expect_error(precompiled(base64(oversized))).find("exceeds"),
            std::string::npos);
  const std::string huge = std::string("\xff\xff\xff\xff", 4) + "abcd";
  EXPECT_NE(expect_error(precompiled(base64(huge))).find("exceeds"),
            std::string::npos);
  EXPECT_NE(expect_error(precompiled(base64(std::string("\0\0\0\0", 4))))
                .find("empty trie"),
            std::string::npos);
  // A real charsmap cut short inside its trie.
  const std::string real = charsmap_of("spm_nmt_nfkc");
  EXPECT_NE(expect_error(precompiled(base64(real.substr(0, real.size() / 4))))
                .find("exceeds"),
            std::string::npos);
  const std::string bad_pool = real + "\xff";
  EXPECT_NE(expect_error(precompiled(base64(bad_pool))).find("UTF-8"),
            std::string::npos);
}

TEST(PrecompiledMalformed, CorruptTrieThrowsOnUse) {
  // One unit whose offset points far outside the trie: loading works, searching
  // throws.
  const std::string blob =
      std::string("\x04\0\0\0", 4) + std::string("\0\0\xf0\x7f", 4);
  const auto n = make_normalizer(precompiled(base64(blob)));
  std::string text = "abc";
  EXPECT_THROW(n->normalize(text), kiln::Error);
}

TEST(PrecompiledTransform, ShortestPrefixAndGraphemes) {
  const PrecompiledCharsmap map(charsmap_of("spm_nmt_nfkc"));
  EXPECT_EQ(map.transform("\xef\xac\x81"),
            std::optional<std::string_view>("fi")); // U+FB01
  EXPECT_EQ(map.transform("abc"), std::nullopt);
  std::string out;
  map.normalize("\xef\xbc\xa1\xef\xac\x81x", out); // U+FF21 U+FB01 x
  EXPECT_EQ(out, "Afix");
}

} // namespace
} // namespace kiln::tok
