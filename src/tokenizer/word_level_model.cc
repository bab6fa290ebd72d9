// WordLevel: each pre-tokenized word is one vocab entry, or the unk token.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/model.h"

namespace kiln::tok {

namespace {

class WordLevelModel : public Model {
 public:
  WordLevelModel(Vocab vocab, std::string unk) : vocab_(std::move(vocab)), unk_(std::move(unk)) {
    id_to_token_ = invert_vocab(vocab_);
  }
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    auto it = vocab_.find(word);
    if (it == vocab_.end()) it = vocab_.find(unk_);
    KILN_CHECK(it != vocab_.end(),
               "tokenizer: WordLevel: '{}' not in vocab and unk_token '{}' "
               "is missing",
               word, unk_);
    ids.push_back(it->second);
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? std::nullopt : std::optional<int32_t>(it->second);
  }
  const std::string* id_to_token(int32_t id) const override {
    if (id < 0 || id >= vocab_size() || id_to_token_[id].empty()) return nullptr;
    return &id_to_token_[id];
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  Vocab vocab_;
  std::string unk_;
  std::vector<std::string> id_to_token_;
};

}  // namespace

std::unique_ptr<Model> make_word_level_model(const nlohmann::json& config) {
  KILN_CHECK(config.contains("vocab"), "tokenizer: WordLevel model needs a \"vocab\"");
  return std::make_unique<WordLevelModel>(parse_vocab_object(config["vocab"]),
                                          config.value("unk_token", std::string("<unk>")));
}

}  // namespace kiln::tok
