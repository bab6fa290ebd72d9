// Loading: tokenizer.json, or a GPT-2 style vocab.json/encoder.json + merges.txt/vocab.bpe pair
// assembled the way transformers' GPT2TokenizerFast does (byte-level BPE, ByteLevel pre-tokenizer
// without prefix space, ByteLevel decoder, <|endoftext|> special). tokenizer_config.json adds its
// special tokens as transformers does, and its add_bos_token/add_eos_token flags replace the
// template for Llama/Gemma-class tokenizers (the only classes where transformers honours them).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "tokenizer: cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json(std::string_view text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    KILN_FAIL("tokenizer: malformed JSON in {}: {}", what, e.what());
  }
}

const json& field(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A special-token entry of tokenizer_config.json: "text" or {"content": "text", ...}.
std::optional<AddedToken> config_token(const json& j) {
  if (j.is_string()) {
    AddedToken t;
    t.content = j.get<std::string>();
    t.special = true;
    return t;
  }
  if (j.is_object() && j.contains("content")) {
    AddedToken t;
    t.content = j["content"].get<std::string>();
    t.special = true;
    t.lstrip = j.value("lstrip", false);
    t.rstrip = j.value("rstrip", false);
    t.single_word = j.value("single_word", false);
    t.normalized = j.value("normalized", false);
    return t;
  }
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_json_string(std::string_view tokenizer_json) {
  const json root = parse_json(tokenizer_json, "tokenizer.json");
  KILN_CHECK(root.is_object(), "tokenizer: tokenizer.json must hold a JSON object");
  KILN_CHECK(root.contains("model"), "tokenizer: tokenizer.json has no \"model\"");
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  try {
    tok->model_ = make_model(root["model"]);
    tok->normalizer_ = make_normalizer(field(root, "normalizer"));
    tok->pre_tokenizer_ = make_pre_tokenizer(field(root, "pre_tokenizer"));
    tok->post_processor_ = make_post_processor(field(root, "post_processor"));
    tok->decoder_ = make_decoder(field(root, "decoder"));
    const json& added = field(root, "added_tokens");
    if (added.is_array()) {
      for (const json& a : added) {
        AddedToken t;
        t.content = a.at("content").get<std::string>();
        t.id = a.at("id").get<int32_t>();
        t.special = a.value("special", false);
        t.single_word = a.value("single_word", false);
        t.lstrip = a.value("lstrip", false);
        t.rstrip = a.value("rstrip", false);
        t.normalized = a.value("normalized", !t.special);
        tok->added_.add(std::move(t));
      }
    }
  } catch (const json::exception& e) {
    KILN_FAIL("tokenizer: malformed tokenizer.json: {}", e.what());
  }
  tok->finalize();
  return tok;
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& tokenizer_json_path) {
  KILN_CHECK(fs::is_regular_file(tokenizer_json_path), "tokenizer: {} does not exist",
             tokenizer_json_path);
  try {
    return from_json_string(read_text(tokenizer_json_path));
  } catch (const Error& e) {
    throw Error(fmt::format("{} [while loading {}]", e.what(), tokenizer_json_path));
  }
}

namespace {

// GPT-2 merges file: optional "#version" line, then "left right" per line.
std::vector<std::pair<std::string, std::string>> read_merges_txt(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "tokenizer: cannot open {}", path.string());
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("#version") || line.empty()) continue;
    const size_t space = line.find(' ');
    KILN_CHECK(space != std::string::npos && space > 0 && line.find(' ', space + 1) == line.npos &&
                   space + 1 < line.size(),
               "tokenizer: {} line {}: expected \"left right\", got '{}'", path.string(), line_no,
               line);
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  const fs::path root(dir);
  KILN_CHECK(fs::is_directory(root), "tokenizer: directory {} does not exist", dir);
  const fs::path config_path = root / "tokenizer_config.json";
  json config;
  if (fs::is_regular_file(config_path)) {
    config = parse_json(read_text(config_path), config_path.string());
    KILN_CHECK(config.is_object(), "tokenizer: {} must hold a JSON object", config_path.string());
  }

  std::unique_ptr<Tokenizer> tok;
  bool gpt2_files = false;
  if (fs::is_regular_file(root / "tokenizer.json")) {
    tok = from_file((root / "tokenizer.json").string());
  } else {
    fs::path vocab_path, merges_path;
    if (fs::is_regular_file(root / "vocab.json") && fs::is_regular_file(root / "merges.txt")) {
      vocab_path = root / "vocab.json", merges_path = root / "merges.txt";
    } else if (fs::is_regular_file(root / "encoder.json") &&
               fs::is_regular_file(root / "vocab.bpe")) {
      vocab_path = root / "encoder.json", merges_path = root / "vocab.bpe";
    } else {
      try {
        if (auto spm = SpmTokenizer::from_dir(root, config)) {
          tok.reset(new Tokenizer());
          tok->spm_ = std::move(spm);
          return tok;
        }
      } catch (const Error& e) {
        throw Error(fmt::format("{} [while loading {}]", e.what(), dir));
      }
      KILN_FAIL(
          "tokenizer: no tokenizer in {}: expected tokenizer.json, vocab.json + merges.txt, "
          "encoder.json + vocab.bpe, or a SentencePiece spiece.model, sentencepiece.bpe.model or "
          "source.spm + target.spm + vocab.json",
          dir);
    }
    gpt2_files = true;
    tok.reset(new Tokenizer());
    const json vocab_json = parse_json(read_text(vocab_path), vocab_path.string());
    try {
      tok->model_ = std::make_unique<BpeModel>(parse_vocab_object(vocab_json),
                                               read_merges_txt(merges_path), BpeOptions());
    } catch (const Error& e) {
      throw Error(fmt::format("{} [while loading {}]", e.what(), dir));
    }
    tok->pre_tokenizer_ =
        make_byte_level_pre_tokenizer(config.is_object() && config.value("add_prefix_space", false),
                                      /*use_regex=*/true);
    tok->decoder_ = make_byte_level_decoder();
    // GPT2TokenizerFast's defaults for bos/eos/unk.
    if (auto id = tok->model_->token_to_id("<|endoftext|>")) {
      tok->added_.add({"<|endoftext|>", *id, /*special=*/true});
    }
  }
  if (!config.is_object()) {
    tok->finalize();
    return tok;
  }

  // Special tokens declared by tokenizer_config.json join the added vocabulary.
  try {
    const json& decoder_map = field(config, "added_tokens_decoder");
    if (decoder_map.is_object()) {
      for (const auto& [id_text, entry] : decoder_map.items()) {
        auto t = config_token(entry);
        if (!t || tok->added_.find(t->content) != nullptr) continue;
        t->id = std::stoi(id_text);
        t->special = entry.value("special", false);
        tok->added_.add(std::move(*t));
      }
    }
    auto add_special = [&](const json& j) {
      auto t = config_token(j);
      if (!t || tok->added_.find(t->content) != nullptr) return;
      auto id = tok->model_->token_to_id(t->content);
      t->id = id ? *id : std::max(tok->model_->vocab_size(), tok->added_.max_id() + 1);
      tok->added_.add(std::move(*t));
    };
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                            "cls_token", "mask_token"}) {
      add_special(field(config, key));
    }
    const json& extra = field(config, "additional_special_tokens");
    if (extra.is_array()) {
      for (const json& j : extra) add_special(j);
    }

    const std::string cls = config.value("tokenizer_class", std::string());
    const bool honours_flags =
        cls.find("Llama") != std::string::npos || cls.find("Gemma") != std::string::npos;
    if (!gpt2_files && honours_flags &&
        (config.contains("add_bos_token") || config.contains("add_eos_token"))) {
      auto special_id = [&](const char* key) -> std::optional<int32_t> {
        auto t = config_token(field(config, key));
        if (!t) return std::nullopt;
        return tok->token_to_id(t->content);
      };
      std::vector<int32_t> prefix, suffix;
      if (config.value("add_bos_token", false)) {
        auto bos = special_id("bos_token");
        KILN_CHECK(bos.has_value(), "tokenizer: add_bos_token is set but bos_token is unknown");
        prefix.push_back(*bos);
      }
      if (config.value("add_eos_token", false)) {
        auto eos = special_id("eos_token");
        KILN_CHECK(eos.has_value(), "tokenizer: add_eos_token is set but eos_token is unknown");
        suffix.push_back(*eos);
      }
      tok->post_processor_ = make_affix_processor(std::move(prefix), std::move(suffix));
    }
  } catch (const json::exception& e) {
    KILN_FAIL("tokenizer: malformed {}: {}", config_path.string(), e.what());
  }
  tok->finalize();
  return tok;
}

}  // namespace kiln::tok
