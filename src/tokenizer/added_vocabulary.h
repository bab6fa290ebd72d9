// Added tokens (tokenizer.json "added_tokens", tokenizer_config.json specials) are cut out of the
// text before the model sees it, as HF's AddedVocabulary does: first tokens with normalized=false
// are matched in the raw text, then each remaining piece is normalized and tokens with
// normalized=true are matched there (against their normalized spelling). Matching is
// leftmost-longest and non-overlapping; single_word, lstrip and rstrip are honoured.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// A piece of text: plain text [begin, end), or an added token (id >= 0) that covered it.
struct TextSegment {
  size_t begin;
  size_t end;
  int32_t id;  // -1 for plain text
};

class AddedVocabulary {
 public:
  // A token with the same content replaces the earlier one.
  void add(AddedToken token);
  // Builds both matchers; call after the last add(). normalizer may be null.
  void build(const Normalizer* normalizer);

  // Splits text (non-empty segments only). normalized_pass picks the normalized=true tokens.
  std::vector<TextSegment> split(std::string_view text, bool normalized_pass) const;

  const AddedToken* find(std::string_view content) const;
  const AddedToken* find(int32_t id) const;
  int32_t max_id() const;  // -1 when empty
  bool empty() const { return tokens_.empty(); }

 private:
  struct Matcher {
    struct Node {
      std::unordered_map<unsigned char, int32_t> next;
      int32_t token = -1;  // index into tokens_ when a pattern ends here
    };
    std::vector<Node> nodes;
    bool first_byte[256] = {};
    void insert(const std::string& pattern, int32_t token);
    // Longest pattern starting at text[i]: (length, token index) or (0, -1).
    std::pair<size_t, int32_t> longest_at(std::string_view text, size_t i) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> by_content_;
  std::unordered_map<int32_t, size_t> by_id_;
  Matcher raw_, normalized_;
};

}  // namespace kiln::tok
