// SentencePiece .model tokenizers (T5, mBART, mBART-50, Marian) id-for-id with transformers'
// sentencepiece-backed classes, and T5's converted tokenizer.json with HF tokenizers. Fixtures and
// expectations: tools/make_spm_model_fixtures.py (tests/fixtures/tokenizers/<name>/).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/check.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string fixture_dir(const std::string& name) {
  return std::string(KILN_SOURCE_DIR) + "/tests/fixtures/tokenizers/" + name;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json expected(const std::string& name) {
  return json::parse(read_file(fs::path(fixture_dir(name)) / "expected.json"));
}

class SpmFixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpmFixtureTest, MatchesTransformers) {
  const std::string name = GetParam();
  const json exp = expected(name);
  auto tok = Tokenizer::from_dir(fixture_dir(name));
  EXPECT_EQ(tok->vocab_size(), exp["vocab_size"].get<int32_t>());
  if (exp.contains("id_to_token")) {
    const auto& vocab = exp["id_to_token"];
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string token = vocab[id].get<std::string>();
      EXPECT_EQ(tok->id_to_token(static_cast<int32_t>(id)), token) << name << " id " << id;
    }
  }
  int failures = 0;
  for (const json& c : exp["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = tok->encode(text);
    const auto want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids, want) << name << " encode '" << text << "'";
    EXPECT_EQ(tok->encode(text, /*add_special_tokens=*/false),
              c["ids_no_special"].get<std::vector<int32_t>>())
        << name << " encode (no specials) '" << text << "'";
    EXPECT_EQ(tok->decode(want), c["decoded"].get<std::string>())
        << name << " decode '" << text << "'";
    EXPECT_EQ(tok->decode(want, /*skip_special_tokens=*/true), c["decoded_skip"].get<std::string>())
        << name << " decode (skip specials) '" << text << "'";
    if (ids != want && ++failures > 20) break;
  }
  if (exp.contains("decode_cases")) {
    for (const json& c : exp["decode_cases"]) {
      const auto ids = c["ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(tok->decode(ids), c["decoded"].get<std::string>())
          << name << " " << c["ids"].dump();
      EXPECT_EQ(tok->decode(ids, true), c["decoded_skip"].get<std::string>())
          << name << " skip " << c["ids"].dump();
    }
  }
  // token_to_id inverts id_to_token for every token the encoder side knows.
  if (exp.contains("id_to_token") && name.find("marian_sep") == std::string::npos) {
    const auto& vocab = exp["id_to_token"];
    for (size_t id = 0; id < vocab.size(); ++id) {
      auto got = tok->token_to_id(vocab[id].get<std::string>());
      ASSERT_TRUE(got.has_value()) << name << " " << vocab[id];
      EXPECT_EQ(*got, static_cast<int32_t>(id)) << name << " " << vocab[id];
    }
  }
  EXPECT_THROW(tok->decode({tok->vocab_size() + 1000}), Error);
  EXPECT_THROW(tok->id_to_token(-1), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpmFixtureTest,
                         ::testing::Values("t5_spm", "mbart_spm", "mbart50_spm", "marian_spm",
                                           "marian_sep_spm", "t5_json"));

TEST(SpmTokenizer, ClassSpecialTokens) {
  auto t5 = Tokenizer::from_dir(fixture_dir("t5_spm"));
  EXPECT_EQ(t5->token_to_id("</s>"), 1);
  EXPECT_EQ(t5->token_to_id("<extra_id_0>"), 309);
  EXPECT_EQ(t5->token_to_id("<extra_id_9>"), 300);
  auto mbart = Tokenizer::from_dir(fixture_dir("mbart_spm"));
  EXPECT_EQ(mbart->token_to_id("<s>"), 0);
  EXPECT_EQ(mbart->token_to_id("<pad>"), 1);
  EXPECT_EQ(mbart->token_to_id("</s>"), 2);
  EXPECT_EQ(mbart->token_to_id("<unk>"), 3);
  EXPECT_EQ(mbart->token_to_id("<mask>"), mbart->vocab_size() - 1);
  auto ids = mbart->encode("hello");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[ids.size() - 2], 2);
  EXPECT_EQ(mbart->id_to_token(ids.back()), "ro_RO");  // src_lang from tokenizer_config.json
  auto mbart50 = Tokenizer::from_dir(fixture_dir("mbart50_spm"));
  ids = mbart50->encode("hello");
  EXPECT_EQ(mbart50->id_to_token(ids.front()), "de_DE");
  EXPECT_EQ(ids.back(), 2);
}

// Copies a fixture into a scratch directory so single files can be broken.
fs::path scratch_copy(const std::string& name, const std::string& tag) {
  const fs::path dst =
      fs::temp_directory_path() / ("kiln_spm_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dst);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(fixture_dir(name))) {
    if (e.path().filename() != "expected.json") fs::copy_file(e.path(), dst / e.path().filename());
  }
  return dst;
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

void expect_error(const fs::path& dir, const std::string& needle) {
  try {
    Tokenizer::from_dir(dir.string());
    ADD_FAILURE() << "no error for " << dir << " (" << needle << ")";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SpmTokenizer, MalformedFilesFailClearly) {
  {
    const fs::path d = scratch_copy("t5_spm", "garbage");
    write_file(d / "spiece.model", "this is not a sentencepiece model");
    expect_error(d, "SentencePiece model");
    write_file(d / "spiece.model", "");
    expect_error(d, "SentencePiece model");
    const std::string good = read_file(fs::path(fixture_dir("t5_spm")) / "spiece.model");
    write_file(d / "spiece.model", good.substr(0, good.size() / 2));
    expect_error(d, "SentencePiece model");
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_copy("mbart_spm", "missing");
    fs::remove(d / "sentencepiece.bpe.model");
    expect_error(d, "sentencepiece.bpe.model");
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_copy("marian_spm", "vocab");
    write_file(d / "vocab.json", "{\"</s>\": 0, ");
    expect_error(d, "malformed JSON");
    write_file(d / "vocab.json", "[1, 2]");
    expect_error(d, "vocab.json");
    write_file(d / "vocab.json", "{\"</s>\": 0, \"<pad>\": 2}");
    expect_error(d, "<unk>");
    write_file(d / "vocab.json", "{\"</s>\": 0, \"<unk>\": \"x\"}");
    expect_error(d, "non-negative integer");
    fs::remove(d / "vocab.json");
    expect_error(d, "vocab.json");
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_copy("marian_sep_spm", "target");
    fs::remove(d / "target_vocab.json");
    expect_error(d, "target_vocab.json");
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_copy("t5_spm", "class");
    auto cfg = json::parse(read_file(d / "tokenizer_config.json"));
    cfg["tokenizer_class"] = "AlbertTokenizer";
    write_file(d / "tokenizer_config.json", cfg.dump());
    expect_error(d, "not supported");
    cfg["tokenizer_class"] = "T5Tokenizer";
    cfg["legacy"] = false;
    write_file(d / "tokenizer_config.json", cfg.dump());
    expect_error(d, "legacy");
    fs::remove_all(d);
  }
  {
    const fs::path d = scratch_copy("mbart_spm", "lang");
    auto cfg = json::parse(read_file(d / "tokenizer_config.json"));
    cfg["src_lang"] = "xx_YY";
    write_file(d / "tokenizer_config.json", cfg.dump());
    expect_error(d, "src_lang");
    fs::remove_all(d);
  }
}

TEST(SpmTokenizer, RecognisedWithoutTokenizerConfig) {
  // Old checkpoints ship only the model files: the class follows from the file names.
  const fs::path d = scratch_copy("t5_spm", "noconfig");
  fs::remove(d / "tokenizer_config.json");
  fs::remove(d / "special_tokens_map.json");
  auto tok = Tokenizer::from_dir(d.string());
  EXPECT_EQ(tok->vocab_size(), 300 + 100);  // T5's default 100 sentinels
  EXPECT_EQ(tok->token_to_id("<extra_id_0>"), 399);
  const auto ids = tok->encode("Hello world");
  EXPECT_EQ(ids.back(), 1);
  fs::remove_all(d);
}

}  // namespace
}  // namespace kiln::tok
