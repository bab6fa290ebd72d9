// SentencePiece `.model` tokenizers as transformers' sentencepiece-backed ("slow") classes use
// them: T5Tokenizer (spiece.model), MBartTokenizer / MBart50Tokenizer (sentencepiece.bpe.model,
// fairseq ids), MarianTokenizer (source.spm / target.spm + vocab.json). libsentencepiece encodes
// and decodes pieces; this class adds each class's id mapping, added-token splitting, special
// tokens around the sequence and its decode rules. Tokenizer delegates to it when a directory has
// no tokenizer.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/model.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace kiln::tok {

class SpmTokenizer {
 public:
  // nullptr when dir holds no SentencePiece tokenizer files; throws kiln::Error on malformed
  // files or an unsupported tokenizer_class. config: tokenizer_config.json (or null).
  static std::unique_ptr<SpmTokenizer> from_dir(const std::filesystem::path& dir,
                                                const nlohmann::json& config);
  ~SpmTokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;
  int32_t vocab_size() const { return vocab_size_; }  // len(tokenizer) in transformers
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;

 private:
  enum class Kind { kT5, kMBart, kMBart50, kMarian };
  SpmTokenizer();
  void add_token(AddedToken t);  // joins the added vocabulary and both id tables
  std::string tokens_to_string(const std::vector<std::string>& tokens) const;
  std::string sp_decode(const std::vector<std::string>& pieces) const;

  Kind kind_ = Kind::kT5;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> source_, target_;  // target_ may be null
  Vocab encoder_;                         // token -> id (encoding side)
  std::vector<std::string> id_to_token_;  // id -> token (decoding side)
  int32_t unk_id_ = 0;
  int32_t vocab_size_ = 0;
  int32_t base_vocab_size_ = 0;  // the class's vocab_size property (legacy added tokens sit above)
  AddedVocabulary added_;
  std::unordered_set<std::string> special_tokens_;  // all_special_tokens
  std::unordered_set<std::string> legacy_added_;    // decoded as their own pieces
  std::vector<int32_t> prefix_, suffix_;
  bool t5_eos_once_ = false;         // T5: no second </s> when the text already ends with one
  bool strip_first_prefix_ = false;  // T5 add_prefix_space: first piece loses its ▁ in decode
  bool clean_up_spaces_ = false;
};

}  // namespace kiln::tok
