// See added_vocabulary.h. The matcher is a byte trie tried at each position (cost ~ text length x
// longest token), which for the handful of special tokens real vocabularies carry is cheaper than
// building an automaton.
#include "tokenizer/added_vocabulary.h"

#include <string>

#include "core/check.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

void AddedVocabulary::add(AddedToken token) {
  KILN_CHECK(!token.content.empty(), "tokenizer: added token with empty content (id {})", token.id);
  KILN_CHECK(token.id >= 0, "tokenizer: added token '{}' has negative id {}", token.content,
             token.id);
  auto it = by_content_.find(token.content);
  if (it != by_content_.end()) {
    by_id_.erase(tokens_[it->second].id);
    tokens_[it->second] = std::move(token);
    by_id_[tokens_[it->second].id] = it->second;
    return;
  }
  by_content_[token.content] = tokens_.size();
  by_id_[token.id] = tokens_.size();
  tokens_.push_back(std::move(token));
}

void AddedVocabulary::Matcher::insert(const std::string& pattern, int32_t token) {
  if (pattern.empty()) return;
  if (nodes.empty()) nodes.emplace_back();
  int32_t cur = 0;
  for (unsigned char b : pattern) {
    auto it = nodes[cur].next.find(b);
    if (it == nodes[cur].next.end()) {
      nodes.emplace_back();
      const int32_t n = static_cast<int32_t>(nodes.size()) - 1;
      nodes[cur].next[b] = n;
      cur = n;
    } else {
      cur = it->second;
    }
  }
  nodes[cur].token = token;
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<size_t, int32_t> AddedVocabulary::Matcher::longest_at(std::string_view text,
                                                                size_t i) const {
  std::pair<size_t, int32_t> best{0, -1};
  if (nodes.empty() || !first_byte[static_cast<unsigned char>(text[i])]) return best;
  int32_t cur = 0;
  for (size_t j = i; j < text.size(); ++j) {
    auto it = nodes[cur].next.find(static_cast<unsigned char>(text[j]));
    if (it == nodes[cur].next.end()) break;
    cur = it->second;
    if (nodes[cur].token >= 0) best = {j + 1 - i, nodes[cur].token};
  }
  return best;
}

void AddedVocabulary::build(const Normalizer* normalizer) {
  raw_ = Matcher();
  normalized_ = Matcher();
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    if (t.normalized) {
      std::string pattern = t.content;
      if (normalizer != nullptr) normalizer->normalize(pattern);
      normalized_.insert(pattern, static_cast<int32_t>(k));
    } else {
      raw_.insert(t.content, static_cast<int32_t>(k));
    }
  }
}

namespace {

bool is_word_char(char32_t c) { return c == '_' || is_alphanumeric(c); }

char32_t last_char(std::string_view s) {
  size_t p = s.size() - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  char32_t c;
  decode_utf8(s, p, &c);
  return c;
}

char32_t first_char(std::string_view s) {
  char32_t c;
  decode_utf8(s, 0, &c);
  return c;
}

}  // namespace

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, bool normalized_pass) const {
  const Matcher& m = normalized_pass ? normalized_ : raw_;
  std::vector<TextSegment> out;
  size_t start_offset = 0;
  for (size_t i = 0; i < text.size() && !m.nodes.empty();) {
    auto [len, k] = m.longest_at(text, i);
    if (k < 0) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + len;
    i = stop;
    const AddedToken& t = tokens_[k];
    if (t.single_word) {
      const bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      const bool stop_space = stop == text.size() || !is_word_char(first_char(text.substr(stop)));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      while (start > 0) {
        size_t p = start - 1;
        while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
        char32_t c;
        decode_utf8(text, p, &c);
        if (!is_whitespace(c)) break;
        start = p;
      }
    }
    if (t.rstrip) {
      while (stop < text.size()) {
        char32_t c;
        const size_t n = decode_utf8(text, stop, &c);
        if (!is_whitespace(c)) break;
        stop += n;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

int32_t AddedVocabulary::max_id() const {
  int32_t m = -1;
  for (const AddedToken& t : tokens_) m = std::max(m, t.id);
  return m;
}

}  // namespace kiln::tok
