// Streaming detokenization, UTF-8 safe and O(window) per token (vLLM's detokenize_incrementally,
// HF's TextStreamer). Decision: the stream is exactly tokenizer.decode(generated ids): the
// concatenation of every push() and the final flush() equals decode(all generated ids,
// skip_special_tokens), which is HF's `decode(output[prompt_len:])`.
//
// Each push re-decodes a small window ids[start, n) and emits what it adds beyond the committed
// text decode(ids[start, read)). Text is held back while it may still change:
//   - the window text ends in U+FFFD: an incomplete UTF-8 sequence (byte-level BPE or byte
//     fallback splitting a character over tokens) that later bytes may complete;
//   - the last token is a byte-fallback token <0xXX> (or a special token that skip_special_tokens
//     drops, after one): HF's ByteFallback decoder turns a whole run of byte tokens into U+FFFDs
//     when any of it is invalid, so text of the run is final only once a token with text closes it.
// The window start moves to the last commit point whose text is non-empty, so decoders that treat
// the first token specially (Metaspace / Strip drop its leading space) only ever touch committed
// context.
//
// continue_prompt (vLLM's behaviour, for the completions API): the window starts with the last
// few prompt tokens, so the first generated token keeps the leading space it has after the prompt
// ("The capital is" + " Paris"); the stream is then decode(prompt tail + generated) minus
// decode(prompt tail) rather than decode(generated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kiln::runtime {

class IncrementalDetokenizer {
 public:
  // tokenizer must outlive this object. prompt_ids are read only when continue_prompt is true.
  IncrementalDetokenizer(const tok::Tokenizer& tokenizer, const std::vector<int32_t>& prompt_ids,
                         bool skip_special_tokens, bool continue_prompt = false);

  // Appends one generated token; returns the text that became final (possibly empty). Throws
  // kiln::Error for an id outside the vocabulary (as decode does).
  std::string push(int32_t token);
  // End of the stream: returns everything held back (an incomplete UTF-8 tail comes out as the
  // U+FFFD that decode gives it). Pushes after a flush continue with the flushed text as context.
  std::string flush();

  int64_t num_tokens() const { return num_tokens_; }  // generated tokens pushed so far
  int64_t window_size() const { return static_cast<int64_t>(window_.size()); }  // for tests

 private:
  bool is_byte_token(int32_t id) const;
  bool is_skipped(int32_t id) const;  // a special token that skip_special_tokens drops
  std::string decode_window() const;
  // Emits decode_window() beyond committed_text_ and makes all of the window committed.
  std::string commit(std::string text);

  const tok::Tokenizer& tok_;
  bool skip_special_;
  std::vector<int32_t> window_;  // ids[start, n): committed context followed by pending tokens
  size_t read_ = 0;              // window_[0, read_) is committed
  std::string committed_text_;   // decode(window_[0, read_))
  int64_t num_tokens_ = 0;
};

}  // namespace kiln::runtime
