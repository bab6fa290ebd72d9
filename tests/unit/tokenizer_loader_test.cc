#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace kiln::tok {
namespace {

namespace fs = std::filesystem;
using V = std::vector<int32_t>;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("kiln_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return (path_ / name).string();
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void expect_error(const std::function<void()>& fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "expected kiln::Error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoader, Gpt2Files) {
  auto t = Tokenizer::from_dir(testing::data_dir("gpt2"));
  EXPECT_EQ(t->vocab_size(), 50257);
  EXPECT_EQ(t->encode("The quick"), (V{464, 2068}));
  EXPECT_EQ(t->encode(" it's 2024!"), (V{340, 338, 48609, 0}));
  EXPECT_EQ(t->decode({464, 2068}), "The quick");
  EXPECT_EQ(t->id_to_token(464), "The");
  EXPECT_EQ(t->token_to_id("<|endoftext|>"), 50256);
}

TEST(TokenizerLoader, LlamaTokenizerJson) {
  auto t = Tokenizer::from_dir(testing::data_dir("llama2"));
  EXPECT_EQ(t->vocab_size(), 32000);
  // BOS from the template; byte fallback for \n.
  const V ids = t->encode("Hello\n");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids.back(), 13);
  EXPECT_EQ(t->encode("Hello\n", false), V(ids.begin() + 1, ids.end()));
  EXPECT_EQ(t->decode(ids, true), "Hello\n");
}

TEST(TokenizerLoader, VocabJsonMergesTxtAndConfig) {
  TempDir dir;
  dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2, "\u0120": 3, "<|endoftext|>": 4})");
  dir.write("merges.txt", "#version: 0.2\na b\n");
  auto t = Tokenizer::from_dir(dir.str());
  EXPECT_EQ(t->encode("ab a<|endoftext|>"), (V{2, 3, 0, 4}));
  EXPECT_EQ(t->decode({2, 3, 0, 4}, true), "ab a");
  // tokenizer_config.json special tokens join the added vocabulary.
  dir.write("tokenizer_config.json", R"({"pad_token": "<pad>", "add_prefix_space": true})");
  t = Tokenizer::from_dir(dir.str());
  EXPECT_EQ(t->vocab_size(), 6);
  EXPECT_EQ(t->encode("ab <pad>"), (V{3, 2, 3, 5}));
  EXPECT_EQ(t->decode({3, 2, 3, 5}, true), " ab ");
}

TEST(TokenizerLoader, ConfigBosEosFlagsForLlamaClass) {
  TempDir dir;
  fs::copy_file(testing::data_dir("llama2") + "/tokenizer.json", dir.str() + "/tokenizer.json");
  dir.write("tokenizer_config.json", R"({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>",
      "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true})");
  auto t = Tokenizer::from_dir(dir.str());
  const V ids = t->encode("Hi");
  EXPECT_NE(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);
}

TEST(TokenizerLoader, MissingThingsAreClearErrors) {
  expect_error([] { Tokenizer::from_dir("/nonexistent/kiln"); }, "does not exist");
  expect_error([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }, "does not exist");
  TempDir dir;
  expect_error([&] { Tokenizer::from_dir(dir.str()); }, "expected tokenizer.json");
  dir.write("vocab.json", R"({"a": 0})");  // merges.txt missing
  expect_error([&] { Tokenizer::from_dir(dir.str()); }, "no tokenizer");
}

TEST(TokenizerLoader, MalformedFilesAreClearErrors) {
  TempDir dir;
  const std::string bad = dir.write("tokenizer.json", "{\"model\": ");
  expect_error([&] { Tokenizer::from_file(bad); }, "malformed JSON");
  expect_error([] { Tokenizer::from_json_string("[1, 2]"); }, "JSON object");
  expect_error([] { Tokenizer::from_json_string("{}"); }, "no \"model\"");
  expect_error(
      [] {
        Tokenizer::from_json_string(R"({"model": {"type": "BPE", "vocab": {"a": "x"},
      "merges": []}})");
      },
      "not an integer");
  fs::remove(bad);
  dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  dir.write("merges.txt", "a b\nb c\n");
  expect_error([&] { Tokenizer::from_dir(dir.str()); }, "'c', not in the vocab");
  dir.write("merges.txt", "a b c\n");
  expect_error([&] { Tokenizer::from_dir(dir.str()); }, "line 1");
  dir.write("merges.txt", "a b\n");
  dir.write("tokenizer_config.json", "{oops");
  expect_error([&] { Tokenizer::from_dir(dir.str()); }, "tokenizer_config.json");
}

TEST(TokenizerLoader, UnsupportedModelTypes) {
  expect_error(
      [] { Tokenizer::from_json_string(R"({"model": {"type": "Unigram", "vocab": [1]}})"); },
      "[piece, score]");
  expect_error([] { Tokenizer::from_json_string(R"({"model": {"type": "Magic"}})"); },
               "unsupported model type 'Magic'");
}

// Expected ids are what the `tokenizers` package returns for the same tokenizer.json.
TEST(TokenizerLoader, UnigramModel) {
  auto t = Tokenizer::from_json_string(R"({
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
    "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": false, "vocab": [
      ["<unk>", 0.0], ["\u2581", -2.0], ["a", -3.0], ["b", -3.0], ["ab", -4.0],
      ["\u2581ab", -5.5], ["\u2581a", -3.0], ["ba", -1.0]]}})");
  EXPECT_EQ(t->encode("ab aba xy"), (V{5, 6, 7, 1, 0}));
  EXPECT_EQ(t->decode({5, 6, 7}), "ab aba");
}

TEST(TokenizerLoader, WordPieceModel) {
  auto t = Tokenizer::from_json_string(R"({
    "normalizer": {"type": "BertNormalizer", "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
    "added_tokens": [{"id": 2, "content": "[CLS]", "special": true},
                     {"id": 3, "content": "[SEP]", "special": true}],
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[UNK]": 0, "un": 1, "[CLS]": 2, "[SEP]": 3, "##able": 4, "!": 5}}})");
  EXPECT_EQ(t->encode("Unable!"), (V{2, 1, 4, 5, 3}));
  EXPECT_EQ(t->encode("Unable zz", false), (V{1, 4, 0}));
  EXPECT_EQ(t->decode({2, 1, 4, 5, 3}, true), "unable!");
}

TEST(TokenizerLoader, DecodeRejectsOutOfRangeIds) {
  auto t = Tokenizer::from_dir(testing::data_dir("gpt2"));
  expect_error([&] { t->decode({1, 50257}); }, "50257");
  expect_error([&] { t->decode({-1}); }, "-1");
  expect_error([&] { t->id_to_token(99999); }, "99999");
  EXPECT_EQ(t->decode({}), "");
}

TEST(TokenizerLoader, InvalidUtf8InputIsRepaired) {
  auto t = Tokenizer::from_dir(testing::data_dir("gpt2"));
  EXPECT_EQ(t->encode("a\xFF"
                      "b"),
            t->encode("a\xEF\xBF\xBD"
                      "b"));
}

}  // namespace
}  // namespace kiln::tok
