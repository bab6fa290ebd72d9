// WordPiece (BERT): greedy longest-prefix match, continuation pieces spelled with "##"; a word with
// any unmatched remainder, or longer than max_input_chars_per_word, becomes the unk token.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

class WordPieceModel : public VocabModel {
 public:
  WordPieceModel(Vocab vocab, std::string unk, std::string prefix, size_t max_chars)
      : VocabModel(std::move(vocab)),
        unk_(std::move(unk)),
        prefix_(std::move(prefix)),
        max_chars_(max_chars) {}
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    size_t chars = 0;
    for (size_t i = 0; i < word.size(); i += utf8_char_len(word[i])) ++chars;
    std::vector<int32_t> pieces;
    bool bad = chars > max_chars_;
    std::string candidate;
    for (size_t start = 0; !bad && start < word.size();) {
      size_t end = word.size();
      int32_t found = -1;
      while (start < end) {
        candidate.assign(start > 0 ? prefix_ : std::string());
        candidate.append(word.substr(start, end - start));
        auto it = vocab_.find(candidate);
        if (it != vocab_.end()) {
          found = it->second;
          break;
        }
        do --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        bad = true;
      } else {
        pieces.push_back(found);
        start = end;
      }
    }
    if (bad) {
      auto it = vocab_.find(unk_);
      KILN_CHECK(it != vocab_.end(), "tokenizer: WordPiece unk_token '{}' is not in the vocab",
                 unk_);
      ids.push_back(it->second);
      return;
    }
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }

 private:
  std::string unk_, prefix_;
  size_t max_chars_;
};

}  // namespace

std::unique_ptr<Model> make_word_piece_model(const nlohmann::json& config) {
  KILN_CHECK(config.contains("vocab"), "tokenizer: WordPiece model needs a \"vocab\"");
  return std::make_unique<WordPieceModel>(
      parse_vocab_object(config["vocab"]), config.value("unk_token", std::string("[UNK]")),
      config.value("continuing_subword_prefix", std::string("##")),
      config.value("max_input_chars_per_word", size_t{100}));
}

}  // namespace kiln::tok
