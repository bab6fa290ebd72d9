#include "runtime/output/incremental_detokenizer.h"

#include <algorithm>

#include "core/check.h"

namespace kiln::runtime {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr size_t kPromptContext = 6;  // prompt tokens of context with continue_prompt (vLLM: 5)

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Length of the longest common prefix of a and b that ends on a UTF-8 character boundary.
size_t common_prefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  const size_t m = std::min(a.size(), b.size());
  while (n < m && a[n] == b[n]) ++n;
  if (n == a.size() || n == b.size()) return n;
  while (n > 0 && (static_cast<unsigned char>(a[n]) & 0xC0) == 0x80) --n;
  return n;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const tok::Tokenizer& tokenizer,
                                               const std::vector<int32_t>& prompt_ids,
                                               bool skip_special_tokens, bool continue_prompt)
    : tok_(tokenizer), skip_special_(skip_special_tokens) {
  if (!continue_prompt) return;
  std::vector<int32_t> prompt;  // ids >= vocab are prompt-embedding rows: no text
  for (int32_t id : prompt_ids)
    if (id >= 0 && id < tokenizer.vocab_size()) prompt.push_back(id);
  // The context starts where a byte run starts (so the window decodes byte runs as decode(all)
  // does) and has some text (so a first-token rule such as Strip never reaches generated text).
  size_t begin = prompt.size() - std::min(prompt.size(), kPromptContext);
  auto bad_start = [&] {
    if (begin == 0) return false;
    if (is_byte_token(prompt[begin - 1]) || is_skipped(prompt[begin - 1])) return true;
    return tok_.decode({prompt.begin() + static_cast<std::ptrdiff_t>(begin), prompt.end()},
                       skip_special_).empty();
  };
  while (bad_start()) --begin;
  window_.assign(prompt.begin() + static_cast<std::ptrdiff_t>(begin), prompt.end());
  read_ = window_.size();
  committed_text_ = decode_window();
}

bool IncrementalDetokenizer::is_byte_token(int32_t id) const {
  if (id < 0 || id >= tok_.vocab_size()) return false;
  const std::string t = tok_.id_to_token(id);
  return t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && is_hex(t[3]) && is_hex(t[4]);
}

bool IncrementalDetokenizer::is_skipped(int32_t id) const {
  return skip_special_ && tok_.decode({id}, true).empty() && !tok_.decode({id}, false).empty();
}

std::string IncrementalDetokenizer::decode_window() const {
  return tok_.decode(window_, skip_special_);
}

std::string IncrementalDetokenizer::commit(std::string text) {
  const size_t keep = text.starts_with(committed_text_) ? committed_text_.size()
                                                        : common_prefix(committed_text_, text);
  std::string out = text.substr(keep);
  // The committed pending tokens become the new context when they decode to something on their
  // own; otherwise (skipped special tokens, a lone Metaspace space) the old context stays too.
  std::vector<int32_t> tail(window_.begin() + static_cast<std::ptrdiff_t>(read_), window_.end());
  std::string tail_text = tok_.decode(tail, skip_special_);
  if (!tail_text.empty()) {
    window_.swap(tail);
    committed_text_.swap(tail_text);
  } else {
    committed_text_.swap(text);
  }
  read_ = window_.size();
  return out;
}

std::string IncrementalDetokenizer::push(int32_t token) {
  KILN_CHECK(token >= 0 && token < tok_.vocab_size(), "detokenizer: id {} outside vocab of {}",
             token, tok_.vocab_size());
  window_.push_back(token);
  ++num_tokens_;
  // A skipped special token is not in decode's token list: it neither adds text nor closes a run.
  if (is_skipped(token)) return {};
  if (is_byte_token(token)) return {};
  std::string text = decode_window();
  if (text.size() <= committed_text_.size() || text.ends_with(kReplacement)) return {};
  return commit(std::move(text));
}

std::string IncrementalDetokenizer::flush() {
  if (read_ == window_.size()) return {};
  return commit(decode_window());
}

}  // namespace kiln::runtime
