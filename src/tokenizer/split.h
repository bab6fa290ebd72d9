// The one splitting primitive shared by pre-tokenizers and normalizers (HF's
// NormalizedString::split): a pattern marks the text as alternating match / non-match spans, and a
// delimiter behaviour decides what becomes of the matches. Empty pieces are dropped.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace kiln::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_split_behavior(const std::string& name);

struct Span {
  size_t begin;
  size_t end;
  bool is_match;
};

// Spans covering all of s (HF Pattern::find_matches). An empty s gives one empty non-match span.
std::vector<Span> find_regex_spans(std::string_view s, const Regex& re);
std::vector<Span> find_string_spans(std::string_view s, std::string_view needle);
std::vector<Span> find_char_spans(std::string_view s, const std::function<bool(char32_t)>& pred);

// s with every match of regex (when non-null) or of needle replaced by content (the Replace
// normalizer and decoder share this).
std::string replace_matches(const std::string& s, const Regex* regex, std::string_view needle,
                            std::string_view content);

// Applies behaviour (and inversion) to spans; returns the kept [begin, end) ranges, non-empty.
std::vector<std::pair<size_t, size_t>> apply_split_behavior(std::vector<Span> spans,
                                                            SplitBehavior behavior, bool invert);

}  // namespace kiln::tok
