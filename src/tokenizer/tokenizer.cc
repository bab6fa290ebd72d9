// The encode/decode pipeline (loading lives in tokenizer_loader.cc). Normalization runs per piece
// between added tokens, exactly where HF runs it, so e.g. a Prepend normalizer fires after every
// special token as it does in the reference.
#include "tokenizer/tokenizer.h"

#include "core/check.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::finalize() {
  KILN_CHECK(model_ != nullptr, "tokenizer: no model");
  added_.build(normalizer_.get());
  vocab_size_ = std::max(model_->vocab_size(), added_.max_id() + 1);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (spm_) return spm_->encode(text, add_special_tokens);
  std::string owned;
  if (!is_valid_utf8(text)) {
    owned = utf8_lossy(text);
    text = owned;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const TextSegment& seg : added_.split(text, /*normalized_pass=*/false)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
    } else {
      encode_plain(text.substr(seg.begin, seg.end - seg.begin), seg.begin == 0, ids);
    }
  }
  if (post_processor_) post_processor_->process(ids, add_special_tokens);
  return ids;
}

void Tokenizer::encode_plain(std::string_view text, bool at_start,
                             std::vector<int32_t>& ids) const {
  std::string normalized(text);
  if (normalizer_) normalizer_->normalize(normalized);
  for (const TextSegment& seg : added_.split(normalized, /*normalized_pass=*/true)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
    } else {
      encode_normalized(normalized.substr(seg.begin, seg.end - seg.begin),
                        at_start && seg.begin == 0, ids);
    }
  }
}

void Tokenizer::encode_normalized(std::string text, bool at_start,
                                  std::vector<int32_t>& ids) const {
  std::vector<PreToken> words;
  words.push_back({std::move(text), at_start});
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words);
  for (const PreToken& w : words) {
    if (!w.text.empty()) model_->tokenize(w.text, ids);
  }
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  if (spm_) return spm_->decode(ids, skip_special_tokens);
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    KILN_CHECK(id >= 0 && id < vocab_size_, "tokenizer: cannot decode id {}: vocab size is {}", id,
               vocab_size_);
    if (const AddedToken* t = added_.find(id)) {
      if (!(skip_special_tokens && t->special)) tokens.push_back(t->content);
      continue;
    }
    const std::string* token = model_->id_to_token(id);
    KILN_CHECK(token != nullptr, "tokenizer: cannot decode id {}: no token has it", id);
    tokens.push_back(*token);
  }
  if (decoder_) return decoder_->decode(std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) out.push_back(' ');
    out.append(tokens[i]);
  }
  return out;
}

int32_t Tokenizer::vocab_size() const { return spm_ ? spm_->vocab_size() : vocab_size_; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (spm_) return spm_->token_to_id(token);
  if (const AddedToken* t = added_.find(token)) return t->id;
  return model_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (spm_) return spm_->id_to_token(id);
  KILN_CHECK(id >= 0 && id < vocab_size_, "tokenizer: id {} out of range [0, {})", id, vocab_size_);
  if (const AddedToken* t = added_.find(id)) return t->content;
  const std::string* token = model_->id_to_token(id);
  KILN_CHECK(token != nullptr, "tokenizer: no token has id {}", id);
  return *token;
}

}  // namespace kiln::tok
