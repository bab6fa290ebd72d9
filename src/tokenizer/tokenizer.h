// kiln::tok::Tokenizer: Hugging Face tokenizer.json pipelines (and GPT-2's vocab.json +
// merges.txt) in C++, id-for-id with the `tokenizers` package. encode runs
// added-token split -> normalizer -> pre-tokenizer -> model -> post-processor; decode runs the
// decoder chain. Offsets, pairs, padding and truncation are out of scope: the engine needs ids.
// A Tokenizer is immutable after loading; encode/decode may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocabulary.h"

namespace kiln::tok {

class Model;
class Normalizer;
class PreTokenizer;
class PostProcessor;
class Decoder;
class SpmTokenizer;

class Tokenizer {
 public:
  // Looks in dir for tokenizer.json; else vocab.json + merges.txt (GPT-2 style); else
  // encoder.json + vocab.bpe (OpenAI naming, same formats); else SentencePiece .model files as
  // transformers' T5/MBart/MBart50/Marian tokenizers use them (spm_tokenizer.h). Also reads
  // tokenizer_config.json when present (add_bos/eos flags, special tokens). Throws kiln::Error
  // with a clear message when none is found or a file is malformed.
  static std::unique_ptr<Tokenizer> from_dir(const std::string& dir);
  static std::unique_ptr<Tokenizer> from_file(const std::string& tokenizer_json_path);
  // tokenizer.json contents given as a string (tests, embedded tokenizers).
  static std::unique_ptr<Tokenizer> from_json_string(std::string_view tokenizer_json);

  ~Tokenizer();

  // Invalid UTF-8 in text is replaced by U+FFFD first (the reference only accepts valid text).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Throws on out-of-range ids.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  int32_t vocab_size() const;  // including added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // throws on out-of-range ids

 private:
  Tokenizer();
  void finalize();  // builds the added-token matchers and the vocab size after loading
  void encode_plain(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;
  void encode_normalized(std::string text, bool at_start, std::vector<int32_t>& ids) const;

  std::unique_ptr<Model> model_;
  std::unique_ptr<Normalizer> normalizer_;         // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer_;    // may be null
  std::unique_ptr<PostProcessor> post_processor_;  // may be null
  std::unique_ptr<Decoder> decoder_;               // may be null: tokens joined by ' '
  AddedVocabulary added_;
  int32_t vocab_size_ = 0;
  std::unique_ptr<SpmTokenizer> spm_;  // set: a SentencePiece tokenizer does all the work
};

}  // namespace kiln::tok
