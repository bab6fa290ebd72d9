// A compiled PCRE2 pattern (UTF + UCP, JIT when available) standing in for the Oniguruma regexes of
// HF tokenizers: same backtracking, leftmost-first semantics, \p{..} classes and lookaround.
// Subjects are valid UTF-8 (the tokenizer repairs input once), so matching skips PCRE2's UTF check,
// which would otherwise rescan the whole subject per match.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::tok {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches left to right as [begin, end) byte offsets; after an empty match the
  // search resumes one character later (Oniguruma's find_iter).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view subject) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace kiln::tok
