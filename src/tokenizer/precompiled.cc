// SentencePiece charsmap parsing, Darts double-array prefix search and HF's
// grapheme-wise application of it. Graphemes come from utf8proc's extended
// grapheme cluster rules, as HF's unicode-segmentation `graphemes(true)`. kiln
// keeps no offsets, so this is a string rewrite.
#include "tokenizer/precompiled.h"

#include <utf8proc.h>

#include "core/check.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

// Darts unit fields: bit 8 has_leaf, bits 0-7 (+ bit 31) label, bits 10-31
// offset (<<8 if bit 9).
bool unit_has_leaf(uint32_t u) { return ((u >> 8) & 1) != 0; }
uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
size_t unit_offset(uint32_t u) {
  return static_cast<size_t>(u >> 10) << ((u & (1u << 9)) >> 6);
}

class PrecompiledNormalizer : public Normalizer {
public:
  explicit PrecompiledNormalizer(std::string_view blob) : map_(blob) {}
  void normalize(std::string &text) const override {
    std::string out;
    out.reserve(text.size());
    map_.normalize(text, out);
    text.swap(out);
  }

private:
  PrecompiledCharsmap map_;
};

} // namespace

std::string decode_base64(std::string_view text) {
  KILN_CHECK(text.size() % 4 == 0,
             "tokenizer: Precompiled charsmap is not valid base64 (length {} "
             "is not a multiple "
             "of 4)",
             text.size());
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    uint32_t bits = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        continue;
      }
      const int v = base64_value(c);
      KILN_CHECK(v >= 0 && pad == 0,
                 "tokenizer: Precompiled charsmap is not valid base64 (bad "
                 "character at {})",
                 i + k);
      bits = (bits << 6) | static_cast<uint32_t>(v);
    }
    bits <<= 6 * pad;
    KILN_CHECK((bits & ((1u << (8 * pad)) - 1)) == 0,
               "tokenizer: Precompiled charsmap is not valid base64 (non-zero "
               "trailing bits)");
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2)
      out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (pad < 1)
      out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob) {
  KILN_CHECK(blob.size() >= 4,
             "tokenizer: Precompiled charsmap is truncated ({} bytes)",
             blob.size());
  const auto byte = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(blob[i]));
  };
  const auto le32 = [&](size_t i) {
    return byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
  };
  const uint32_t trie_bytes = le32(0);
  const size_t n_units = trie_bytes / 4;
  KILN_CHECK(
      n_units <= (blob.size() - 4) / 4,
      "tokenizer: Precompiled charsmap trie size {} exceeds the {}-byte blob",
      trie_bytes, blob.size());
  KILN_CHECK(n_units > 0, "tokenizer: Precompiled charsmap has an empty trie");
  units_.resize(n_units);
  for (size_t i = 0; i < n_units; ++i)
    units_[i] = le32(4 + 4 * i);
  pool_.assign(blob.substr(4 + 4 * n_units));
  KILN_CHECK(is_valid_utf8(pool_), "tokenizer: Precompiled charsmap "
                                   "replacement strings are not valid UTF-8");
}

uint32_t PrecompiledCharsmap::unit(size_t pos) const {
  KILN_CHECK(pos < units_.size(),
             "tokenizer: Precompiled charsmap trie is corrupt (unit {} of {})",
             pos, units_.size());
  return units_[pos];
}

std::optional<std::string_view>
PrecompiledCharsmap::transform(std::string_view chunk) const {
  size_t pos = unit_offset(unit(0));
  for (const char ch : chunk) {
    const auto c = static_cast<uint8_t>(ch);
    if (c == 0)
      break;
    pos ^= c;
    const uint32_t u = unit(pos);
    if (unit_label(u) != c)
      return std::nullopt;
    pos ^= unit_offset(u);
    if (!unit_has_leaf(u))
      continue;
    const size_t begin = unit_value(unit(pos));
    KILN_CHECK(begin <= pool_.size() &&
                   (begin == pool_.size() ||
                    (static_cast<uint8_t>(pool_[begin]) & 0xC0) != 0x80),
               "tokenizer: Precompiled charsmap points outside its replacement "
               "strings ({})",
               begin);
    size_t end = pool_.find('\0', begin);
    if (end == std::string::npos)
      end = pool_.size();
    return std::string_view(pool_).substr(begin, end - begin);
  }
  return std::nullopt;
}

void PrecompiledCharsmap::normalize(std::string_view text,
                                    std::string &out) const {
  utf8proc_int32_t state = 0;
  char32_t prev = 0;
  size_t start = 0; // byte start of the current grapheme cluster
  const auto flush = [&](size_t end) {
    const std::string_view g = text.substr(start, end - start);
    if (g.size() < 6) {
      if (auto rep = transform(g)) {
        out.append(*rep);
        return;
      }
    }
    for (size_t i = 0; i < g.size();) {
      const size_t n = utf8_char_len(static_cast<unsigned char>(g[i]));
      const std::string_view part = g.substr(i, n);
      if (auto rep = transform(part)) {
        out.append(*rep);
      } else {
        out.append(part);
      }
      i += n;
    }
  };
  for (size_t i = 0; i < text.size();) {
    char32_t c;
    const size_t n = decode_utf8(text, i, &c);
    if (i > 0 && utf8proc_grapheme_break_stateful(
                     static_cast<utf8proc_int32_t>(prev),
                     static_cast<utf8proc_int32_t>(c), &state)) {
      flush(i);
      start = i;
    }
    prev = c;
    i += n;
  }
  if (start < text.size())
    flush(text.size());
}

std::unique_ptr<Normalizer>
make_precompiled_normalizer(std::string_view charsmap_base64) {
  return std::make_unique<PrecompiledNormalizer>(
      decode_base64(charsmap_base64));
}

} // namespace kiln::tok
