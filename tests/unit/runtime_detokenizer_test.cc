#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/output/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln::runtime {
namespace {

const std::string kData = KILN_SOURCE_DIR "/../shared/data/tokenizers";

const tok::Tokenizer& gpt2() {
  static const std::unique_ptr<tok::Tokenizer> t = tok::Tokenizer::from_dir(kData + "/gpt2");
  return *t;
}
const tok::Tokenizer& llama2() {
  static const std::unique_ptr<tok::Tokenizer> t =
      tok::Tokenizer::from_file(kData + "/llama2/tokenizer.json");
  return *t;
}

struct Streamed {
  std::vector<std::string> pieces;  // one per push, then the flush
  std::string text;
  int64_t max_window = 0;
};

Streamed stream(const tok::Tokenizer& t, const std::vector<int32_t>& ids, bool skip,
                const std::vector<int32_t>& prompt = {}, bool continue_prompt = false) {
  IncrementalDetokenizer d(t, prompt, skip, continue_prompt);
  Streamed s;
  for (int32_t id : ids) {
    s.pieces.push_back(d.push(id));
    s.text += s.pieces.back();
    s.max_window = std::max(s.max_window, d.window_size());
  }
  s.pieces.push_back(d.flush());
  s.text += s.pieces.back();
  return s;
}

const std::vector<std::string> kTexts = {
    "Hello, world! How are you today?",
    "  leading and   multiple spaces\tand\ttabs\n\nnew lines  ",
    "Emoji: 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 end",
    "中文测试：今天天气很好，我们去公园散步吧。日本語のテキストも。한국어 문장.",
    "Combining: e\xCC\x81 a\xCC\x8A n\xCC\x83 Z\xCC\xB7\xCC\x9B\xCC\x8C\xCD\x85 caf\xC3\xA9 na\xC3\xAFve",
    "Mixed 😀中 e\xCC\x81 😀😀😀 龘龘 𠜎𠜱𠝹 ∑∫√ ←→ end.",
};

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

void check_texts(const tok::Tokenizer& t) {
  for (const std::string& text : kTexts) {
    for (bool skip : {false, true}) {
      const std::vector<int32_t> ids = t.encode(text, /*add_special_tokens=*/true);
      const Streamed s = stream(t, ids, skip);
      EXPECT_EQ(s.text, t.decode(ids, skip)) << text;
      for (const std::string& p : s.pieces) {
        EXPECT_TRUE(valid_utf8(p)) << text;
        EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos) << "partial character in " << text;
      }
      EXPECT_LE(s.max_window, 24) << text;
    }
  }
}

TEST(IncrementalDetokenizer, Gpt2TextsMatchDecodeAndNeverSplitCharacters) { check_texts(gpt2()); }
TEST(IncrementalDetokenizer, Llama2TextsMatchDecodeAndNeverSplitCharacters) {
  check_texts(llama2());
}

TEST(IncrementalDetokenizer, Gpt2HoldsBackAnIncompleteCharacter) {
  const tok::Tokenizer& t = gpt2();
  const std::vector<int32_t> ids = t.encode("😀", false);
  ASSERT_GT(ids.size(), 1u);  // byte-level BPE splits the emoji over tokens
  const Streamed s = stream(t, ids, false);
  for (size_t i = 0; i + 2 < s.pieces.size(); ++i) EXPECT_EQ(s.pieces[i], "");
  EXPECT_EQ(s.pieces[ids.size() - 1], "😀");
  // Cut mid-character: the tail comes out of flush as decode gives it.
  const std::vector<int32_t> cut(ids.begin(), ids.end() - 1);
  const Streamed c = stream(t, cut, false);
  EXPECT_EQ(c.text, t.decode(cut));
  EXPECT_EQ(c.pieces.back(), t.decode(cut));
}

TEST(IncrementalDetokenizer, Llama2ByteFallbackRunsAreFinalOnlyWhenClosed) {
  const tok::Tokenizer& t = llama2();
  // A character outside the vocabulary is spelt in <0xXX> byte tokens.
  const std::vector<int32_t> ids = t.encode("a 𠜎b", false);
  const std::string all = t.decode(ids);
  EXPECT_EQ(stream(t, ids, false).text, all);
  // A valid run followed by an unfinished character: decode turns the whole run into U+FFFDs.
  const int32_t e4 = *t.token_to_id("<0xE4>"), b8 = *t.token_to_id("<0xB8>"),
                ad = *t.token_to_id("<0xAD>"), x = *t.token_to_id("▁x");
  const std::vector<int32_t> run = {x, e4, b8, ad, e4};
  const Streamed s = stream(t, run, false);
  EXPECT_EQ(s.text, t.decode(run));
  const std::vector<int32_t> closed = {x, e4, b8, ad, x};
  const Streamed c = stream(t, closed, false);
  EXPECT_EQ(c.text, "x中 x");
  EXPECT_EQ(c.pieces[4], "中 x");
}

TEST(IncrementalDetokenizer, Llama2LeadingSpaceAndSpecialTokens) {
  const tok::Tokenizer& t = llama2();
  const std::vector<int32_t> ids = t.encode("Hello world", false);  // ▁Hello ▁world
  EXPECT_EQ(stream(t, ids, false).text, "Hello world");  // = decode: Strip drops the first space
  // Skipped special tokens in the middle do not eat the next token's space.
  std::vector<int32_t> with_special = {ids[0], 1, 2, ids[1], 2, ids[1]};
  for (bool skip : {false, true})
    EXPECT_EQ(stream(t, with_special, skip).text, t.decode(with_special, skip));
  // A lone "▁" token followed by words.
  const int32_t space = *t.token_to_id("▁");
  const std::vector<int32_t> spaced = {ids[0], space, space, ids[1], space};
  EXPECT_EQ(stream(t, spaced, true).text, t.decode(spaced, true));
}

TEST(IncrementalDetokenizer, ContinuePromptKeepsTheLeadingSpace) {
  const tok::Tokenizer& t = llama2();
  const std::vector<int32_t> prompt = t.encode("The capital of France is", true);
  const std::vector<int32_t> all = t.encode("The capital of France is Paris, of course.", true);
  ASSERT_EQ(std::vector<int32_t>(all.begin(), all.begin() + prompt.size()), prompt);
  const std::vector<int32_t> gen(all.begin() + static_cast<std::ptrdiff_t>(prompt.size()),
                                 all.end());
  EXPECT_EQ(stream(t, gen, true, prompt, true).text, " Paris, of course.");
  EXPECT_EQ(stream(t, gen, true, prompt, false).text, "Paris, of course.");
  // GPT-2 decoding has no first-token rule: both modes agree.
  const std::vector<int32_t> gp = gpt2().encode("The capital of France is", false);
  const std::vector<int32_t> gg = gpt2().encode(" Paris 😀", false);
  EXPECT_EQ(stream(gpt2(), gg, false, gp, true).text, " Paris 😀");
}

void check_random(const tok::Tokenizer& t, uint64_t seed, int byte_bias) {
  std::mt19937_64 rng(seed);
  const int32_t vocab = t.vocab_size();
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 40);
    for (int32_t& id : ids) {
      const uint64_t r = rng() % 100;
      // Bias towards ids that split characters: GPT-2's byte tokens sit at 0..255 of encoder.json
      // order only roughly, LLaMA's <0xXX> at 3..258; specials at 0..2 (LLaMA) / 50256 (GPT-2).
      if (r < static_cast<uint64_t>(byte_bias)) id = static_cast<int32_t>(rng() % 259);
      else if (r < static_cast<uint64_t>(byte_bias) + 3) id = vocab - 1;
      else id = static_cast<int32_t>(rng() % vocab);
    }
    for (bool skip : {false, true}) {
      const Streamed s = stream(t, ids, skip);
      ASSERT_EQ(s.text, t.decode(ids, skip)) << "seed " << seed << " trial " << trial;
    }
  }
}

TEST(IncrementalDetokenizer, RandomIdsMatchDecodeGpt2) {
  for (uint64_t seed = 0; seed < 5; ++seed) check_random(gpt2(), seed, 50);
  for (uint64_t seed = 100; seed < 250; ++seed) check_random(gpt2(), seed, 80);
}
TEST(IncrementalDetokenizer, RandomIdsMatchDecodeLlama2) {
  for (uint64_t seed = 0; seed < 5; ++seed) check_random(llama2(), seed, 50);
  for (uint64_t seed = 100; seed < 250; ++seed) check_random(llama2(), seed, 80);
}

TEST(IncrementalDetokenizer, WindowStaysSmallOnLongOutputs) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "Streaming 中文 😀 e\xCC\x81 text number " + std::to_string(i) + ". ";
  for (const tok::Tokenizer* t : {&gpt2(), &llama2()}) {
    const std::vector<int32_t> ids = t->encode(text, false);
    const Streamed s = stream(*t, ids, false);
    EXPECT_EQ(s.text, t->decode(ids));
    EXPECT_LE(s.max_window, 16);
  }
}

}  // namespace
}  // namespace kiln::runtime
