// Every HF normalizer kiln supports, one small class each: Sequence, NFC/NFD/NFKC/NFKD (utf8proc),
// Lowercase, Strip, StripAccents, Prepend, Replace (string or regex), BertNormalizer, ByteLevel.
// Precompiled (a SentencePiece charsmap) lives in precompiled.cc; an empty charsmap is the
// identity.
#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/component_config.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/precompiled.h"
#include "tokenizer/regex.h"
#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

using json = nlohmann::json;

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> items)
      : items_(std::move(items)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : items_) n->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    if (text.empty()) return;
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                            static_cast<utf8proc_ssize_t>(text.size()), &out,
                                            static_cast<utf8proc_option_t>(options_));
    KILN_CHECK(n >= 0, "tokenizer: unicode normalization failed: {}", utf8proc_errmsg(n));
    text.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  int options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      char32_t c;
      i += decode_utf8(text, i, &c);
      append_lowercase(out, c);
    }
    text.swap(out);
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        char32_t c;
        const size_t n = decode_utf8(text, begin, &c);
        if (!is_whitespace(c)) break;
        begin += n;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t p = end - 1;
        while (p > begin && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
        char32_t c;
        decode_utf8(text, p, &c);
        if (!is_whitespace(c)) break;
        end = p;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

void strip_marks(std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    char32_t c;
    const size_t n = decode_utf8(text, i, &c);
    if (!is_combining_mark(c)) out.append(text, i, n);
    i += n;
  }
  text.swap(out);
}

class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { strip_marks(text); }
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const json& pattern, std::string content) : content_(std::move(content)) {
    if (pattern.contains("String")) {
      needle_ = pattern["String"].get<std::string>();
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else {
      KILN_FAIL("tokenizer: Replace pattern must be {{\"String\": ..}} or {{\"Regex\": ..}}");
    }
  }
  void normalize(std::string& text) const override {
    text = replace_matches(text, regex_.get(), needle_, content_);
  }

 private:
  std::string needle_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_(strip_accents), lower_(lowercase) {}
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      char32_t c;
      const size_t n = decode_utf8(text, i, &c);
      i += n;
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_whitespace(c)) c = ' ';
      }
      if (chinese_ && is_cjk(c)) {
        out.push_back(' ');
        append_utf8(out, c);
        out.push_back(' ');
      } else {
        append_utf8(out, c);
      }
    }
    text.swap(out);
    if (strip_) {
      UnicodeNormalizer(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE).normalize(text);
      strip_marks(text);
    }
    if (lower_) LowercaseNormalizer().normalize(text);
  }

 private:
  bool clean_text_, chinese_, strip_, lower_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = bytes_to_unicode_string(text); }
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "normalizer");
  if (type == "Sequence") {
    return std::make_unique<SequenceNormalizer>(
        sequence_items<Normalizer>(config, "normalizers", make_normalizer));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  }
  if (type == "NFKC") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                               UTF8PROC_COMPAT);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE |
                                               UTF8PROC_COMPAT);
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(config.value("strip_left", true),
                                             config.value("strip_right", true));
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(config.at("prepend"));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(config.at("pattern"),
                                               config.at("content").get<std::string>());
  }
  if (type == "BertNormalizer") {
    const bool lowercase = config.value("lowercase", true);
    const json& sa = config.contains("strip_accents") ? config["strip_accents"] : json();
    return std::make_unique<BertNormalizer>(
        config.value("clean_text", true), config.value("handle_chinese_chars", true),
        sa.is_boolean() ? sa.get<bool>() : lowercase, lowercase);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Precompiled") {
    const json& map =
        config.contains("precompiled_charsmap") ? config["precompiled_charsmap"] : json();
    if (map.is_null() || (map.is_string() && map.get<std::string>().empty())) {
      return std::make_unique<SequenceNormalizer>(std::vector<std::unique_ptr<Normalizer>>());
    }
    KILN_CHECK(map.is_string(), "tokenizer: Precompiled precompiled_charsmap must be a string");
    return make_precompiled_normalizer(map.get<std::string>());
  }
  KILN_FAIL("tokenizer: unsupported normalizer type '{}'", type);
}

}  // namespace kiln::tok
