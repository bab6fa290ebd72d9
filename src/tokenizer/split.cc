// Mirrors the fold in HF tokenizers' NormalizedString::split exactly, including its treatment of
// consecutive matches, so pre-tokenizer output is identical.
#include "tokenizer/split.h"

#include <algorithm>

#include "core/check.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

SplitBehavior parse_split_behavior(const std::string& name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  KILN_FAIL("tokenizer: unknown split behavior '{}'", name);
}

namespace {

std::vector<Span> spans_from_matches(std::string_view s,
                                     const std::vector<std::pair<size_t, size_t>>& matches) {
  if (s.empty()) return {{0, 0, false}};
  std::vector<Span> spans;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev != b) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev != s.size()) spans.push_back({prev, s.size(), false});
  return spans;
}

}  // namespace

std::vector<Span> find_regex_spans(std::string_view s, const Regex& re) {
  if (s.empty()) return {{0, 0, false}};
  return spans_from_matches(s, re.find_all(s));
}

std::vector<Span> find_string_spans(std::string_view s, std::string_view needle) {
  if (needle.empty()) return {{0, s.size(), false}};
  std::vector<std::pair<size_t, size_t>> matches;
  size_t pos = 0;
  while ((pos = s.find(needle, pos)) != std::string_view::npos) {
    matches.emplace_back(pos, pos + needle.size());
    pos += needle.size();
  }
  return spans_from_matches(s, matches);
}

std::vector<Span> find_char_spans(std::string_view s, const std::function<bool(char32_t)>& pred) {
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    const size_t n = decode_utf8(s, i, &c);
    if (pred(c)) matches.emplace_back(i, i + n);
    i += n;
  }
  return spans_from_matches(s, matches);
}

std::vector<std::pair<size_t, size_t>> apply_split_behavior(std::vector<Span> spans,
                                                            SplitBehavior behavior, bool invert) {
  if (invert) {
    for (Span& sp : spans) sp.is_match = !sp.is_match;
  }
  // (begin, end, remove)
  struct Piece {
    size_t begin, end;
    bool remove;
  };
  std::vector<Piece> pieces;
  pieces.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Span& sp : spans) pieces.push_back({sp.begin, sp.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const Span& sp : spans) pieces.push_back({sp.begin, sp.end, sp.is_match});
      break;
    case SplitBehavior::kContiguous:
      for (const Span& sp : spans) {
        if (sp.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = sp.end;
        } else {
          pieces.push_back({sp.begin, sp.end, false});
        }
        previous_match = sp.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& sp : spans) {
        if (sp.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = sp.end;
        } else {
          pieces.push_back({sp.begin, sp.end, false});
        }
        previous_match = sp.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(pieces.size());
  for (const Piece& p : pieces) {
    if (!p.remove && p.end > p.begin) out.emplace_back(p.begin, p.end);
  }
  return out;
}

std::string replace_matches(const std::string& s, const Regex* regex, std::string_view needle,
                            std::string_view content) {
  const std::vector<Span> spans = regex ? find_regex_spans(s, *regex) : find_string_spans(s, needle);
  std::string out;
  out.reserve(s.size());
  for (const Span& sp : spans) {
    if (sp.is_match) {
      out.append(content);
    } else {
      out.append(s, sp.begin, sp.end - sp.begin);
    }
  }
  return out;
}

}  // namespace kiln::tok
