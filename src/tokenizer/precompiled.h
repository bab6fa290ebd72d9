// SentencePiece's `Precompiled` normalizer (tokenizer.json of
// T5/mT5/mBART/Marian/XLM-R): the charsmap is base64 of [u32 LE trie byte
// size][Darts double-array trie units][NUL-separated replacement pool]. It is
// applied the way HF tokenizers applies it, not the way SentencePiece does: per
// extended grapheme cluster, a cluster under 6 bytes whose bytes start with a
// trie key is replaced whole by the SHORTEST such key's replacement; otherwise
// each char is looked up alone.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/normalizer.h"

namespace kiln::tok {

// Strict RFC 4648 base64 with padding (Rust's BASE64_STANDARD); throws
// kiln::Error on bad input.
std::string decode_base64(std::string_view text);

class PrecompiledCharsmap {
public:
  // blob: the decoded charsmap. Throws kiln::Error when it is truncated or
  // malformed.
  explicit PrecompiledCharsmap(std::string_view blob);

  // Replacement for the shortest trie key that is a prefix of chunk (stopping
  // at a NUL byte).
  std::optional<std::string_view> transform(std::string_view chunk) const;
  // Appends the normalization of text (valid UTF-8) to out.
  void normalize(std::string_view text, std::string &out) const;

private:
  uint32_t unit(size_t pos) const; // bounds-checked trie access

  std::vector<uint32_t> units_; // [trie_bytes / 4] Darts double-array units
  std::string pool_; // replacement strings, each ended by '\0' (valid UTF-8)
};

// The tokenizer.json normalizer for a base64 `precompiled_charsmap`.
std::unique_ptr<Normalizer>
make_precompiled_normalizer(std::string_view charsmap_base64);

} // namespace kiln::tok
