// Byte-pair encoding as HF tokenizers does it: characters (or their <0xXX> byte tokens with
// byte_fallback, or unk) become symbols, then the lowest-ranked adjacent merge is applied
// repeatedly (leftmost first among equal ranks) with a heap over a linked list, O(n log n) in the
// word length — SentencePiece-style vocabularies with no pre-tokenizer hand it whole paragraphs.
// Results for short words are cached.
#pragma once

#include <array>
#include <shared_mutex>
#include <utility>

#include "tokenizer/model.h"

namespace kiln::tok {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel : public VocabModel {
 public:
  // merges in rank order; each side must be in vocab, and so must their concatenation.
  BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options);

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override;

  void clear_cache() const;

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;

  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::array<int32_t, 256> byte_ids_;  // id of "<0xXX>", or -1
  BpeOptions options_;

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

// From tokenizer.json's BPE "model" object; merges as "a b" strings or [a, b] pairs.
std::unique_ptr<Model> make_bpe_model(const nlohmann::json& config);

}  // namespace kiln::tok
