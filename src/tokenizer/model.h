// A model turns one pre-tokenized word into ids (tokenizer.json "model"). Ids are dense from 0;
// vocab_size() is one past the largest id the model knows.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// token -> id; lookups by string_view do not allocate.
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of word (valid UTF-8, non-empty) to ids.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;  // nullptr when unknown
  virtual int32_t vocab_size() const = 0;
};

// A model whose ids come from one token -> id vocab (BPE, WordPiece, WordLevel): the lookups.
class VocabModel : public Model {
 public:
  explicit VocabModel(Vocab vocab);
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  const std::string* id_to_token(int32_t id) const override;  // nullptr for holes
  int32_t vocab_size() const override { return static_cast<int32_t>(id_to_token_.size()); }

 protected:
  Vocab vocab_;
  std::vector<std::string> id_to_token_;  // invert_vocab(vocab_)
};

// Builds from tokenizer.json's "model" object (BPE, Unigram, WordPiece, WordLevel).
std::unique_ptr<Model> make_model(const nlohmann::json& config);

// Inverts a vocab into an id-indexed table (holes are empty strings); throws on negative ids.
std::vector<std::string> invert_vocab(const Vocab& vocab);

}  // namespace kiln::tok

namespace kiln::tok {
// Per-type factories used by make_model.
std::unique_ptr<Model> make_word_level_model(const nlohmann::json& config);
std::unique_ptr<Model> make_word_piece_model(const nlohmann::json& config);
std::unique_ptr<Model> make_unigram_model(const nlohmann::json& config);
Vocab parse_vocab_object(const nlohmann::json& vocab);
}  // namespace kiln::tok
