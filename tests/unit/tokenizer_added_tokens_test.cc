#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

using V = std::vector<int32_t>;

// WordLevel over whitespace words with added tokens exercising every flag. Expected ids are what
// the `tokenizers` package returns for the same tokenizer.json.
constexpr const char* kConfig = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 7, "content": "[M]", "single_word": false, "lstrip": true, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 8, "content": "<b>", "single_word": false, "lstrip": false, "rstrip": true,
     "normalized": false, "special": false},
    {"id": 9, "content": "cat", "single_word": true, "lstrip": false, "rstrip": false,
     "normalized": false, "special": false},
    {"id": 10, "content": "HEY", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": true, "special": false},
    {"id": 11, "content": "<b>x", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true}],
  "normalizer": {"type": "Lowercase"},
  "pre_tokenizer": {"type": "WhitespaceSplit"},
  "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "<unk>",
            "vocab": {"<unk>": 0, "a": 1, "b": 2, "cats": 3, "x": 4, "hey": 5, "y": 6}}
})";

TEST(TokenizerAddedTokens, SplitHonoursFlags) {
  auto t = Tokenizer::from_json_string(kConfig);
  EXPECT_EQ(t->encode("a [M] b"), (V{1, 7, 2}));
  EXPECT_EQ(t->encode("a  <b>  b"), (V{1, 8, 2}));
  EXPECT_EQ(t->encode("cat cats acat"), (V{9, 3, 0}));     // single_word
  EXPECT_EQ(t->encode("a HEY b hey"), (V{1, 10, 2, 10}));  // normalized: matched after Lowercase
  EXPECT_EQ(t->encode("<b>x <b>y"), (V{11, 8, 6}));        // longest match wins
  EXPECT_EQ(t->encode("A  [M]"), (V{1, 7}));
  EXPECT_EQ(t->encode(""), (V{}));
  EXPECT_EQ(t->vocab_size(), 12);
}

TEST(TokenizerAddedTokens, DecodeAndSkipSpecial) {
  auto t = Tokenizer::from_json_string(kConfig);
  EXPECT_EQ(t->decode({1, 7, 2, 8, 11}), "a [M] b <b> <b>x");
  EXPECT_EQ(t->decode({1, 7, 2, 8, 11}, /*skip_special_tokens=*/true), "a b <b>");
  EXPECT_EQ(t->token_to_id("[M]"), 7);
  EXPECT_EQ(t->token_to_id("cats"), 3);
  EXPECT_EQ(t->token_to_id("nope"), std::nullopt);
  EXPECT_EQ(t->id_to_token(10), "HEY");
  EXPECT_EQ(t->id_to_token(5), "hey");
}

TEST(TokenizerAddedTokens, Gpt2EndOfTextIsSpecial) {
  auto t = Tokenizer::from_dir(testing::data_dir("gpt2"));
  EXPECT_EQ(t->encode("Hello<|endoftext|>world"), (V{15496, 50256, 6894}));
  EXPECT_EQ(t->decode({15496, 50256, 6894}, true), "Helloworld");
}

}  // namespace
}  // namespace kiln::tok
