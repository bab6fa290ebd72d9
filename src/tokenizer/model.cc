// Model dispatch on tokenizer.json's "type" (or, for old files without one, on the fields present,
// as HF's untagged deserializer does).
#include "tokenizer/model.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/bpe_model.h"

namespace kiln::tok {

std::vector<std::string> invert_vocab(const Vocab& vocab) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    KILN_CHECK(id >= 0, "tokenizer: vocab token '{}' has negative id {}", token, id);
    max_id = std::max(max_id, id);
  }
  std::vector<std::string> table(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : vocab) table[id] = token;
  return table;
}

VocabModel::VocabModel(Vocab vocab)
    : vocab_(std::move(vocab)), id_to_token_(invert_vocab(vocab_)) {}

std::optional<int32_t> VocabModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* VocabModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || id_to_token_[id].empty()) return nullptr;
  return &id_to_token_[id];
}

Vocab parse_vocab_object(const nlohmann::json& vocab) {
  KILN_CHECK(vocab.is_object(), "tokenizer: model \"vocab\" must be an object of token -> id");
  Vocab out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    KILN_CHECK(id.is_number_integer(), "tokenizer: vocab id of '{}' is not an integer", token);
    out.emplace(token, id.get<int32_t>());
  }
  return out;
}

std::unique_ptr<Model> make_model(const nlohmann::json& config) {
  KILN_CHECK(config.is_object(), "tokenizer: \"model\" must be an object");
  std::string type;
  if (config.contains("type")) {
    type = config["type"].get<std::string>();
  } else if (config.contains("merges")) {
    type = "BPE";
  } else if (config.contains("vocab") && config["vocab"].is_array()) {
    type = "Unigram";
  } else if (config.contains("max_input_chars_per_word")) {
    type = "WordPiece";
  } else {
    type = "WordLevel";
  }
  if (type == "BPE") return make_bpe_model(config);
  if (type == "WordPiece") return make_word_piece_model(config);
  if (type == "WordLevel") return make_word_level_model(config);
  if (type == "Unigram") return make_unigram_model(config);
  KILN_FAIL(
      "tokenizer: unsupported model type '{}' (kiln supports BPE, Unigram, WordPiece, "
      "WordLevel)",
      type);
}

}  // namespace kiln::tok
