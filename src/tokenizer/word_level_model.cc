// WordLevel: each pre-tokenized word is one vocab entry, or the unk token.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/model.h"

namespace kiln::tok {

namespace {

class WordLevelModel : public VocabModel {
 public:
  WordLevelModel(Vocab vocab, std::string unk)
      : VocabModel(std::move(vocab)), unk_(std::move(unk)) {}
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    auto it = vocab_.find(word);
    if (it == vocab_.end()) it = vocab_.find(unk_);
    KILN_CHECK(it != vocab_.end(),
               "tokenizer: WordLevel: '{}' not in vocab and unk_token '{}' "
               "is missing",
               word, unk_);
    ids.push_back(it->second);
  }

 private:
  std::string unk_;
};

}  // namespace

std::unique_ptr<Model> make_word_level_model(const nlohmann::json& config) {
  KILN_CHECK(config.contains("vocab"), "tokenizer: WordLevel model needs a \"vocab\"");
  return std::make_unique<WordLevelModel>(parse_vocab_object(config["vocab"]),
                                          config.value("unk_token", std::string("<unk>")));
}

}  // namespace kiln::tok
