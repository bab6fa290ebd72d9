// HF decoders, one small class each: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
// WordPiece, BPEDecoder, Sequence. Invalid UTF-8 is repaired the way Rust does it (U+FFFD).
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/component_config.h"
#include "tokenizer/decoder.h"
#include "tokenizer/regex.h"
#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out.append(t);
  return out;
}

namespace {

using json = nlohmann::json;

std::vector<char32_t> to_chars(const std::string& s) {
  std::vector<char32_t> chars;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    i += decode_utf8(s, i, &c);
    chars.push_back(c);
  }
  return chars;
}

char32_t single_char(const std::string& s, const char* what) {
  std::vector<char32_t> chars = to_chars(s);
  KILN_CHECK(chars.size() == 1, "tokenizer: {} must be one character, got '{}'", what, s);
  return chars[0];
}

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items)
      : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool all = true;
      for (size_t i = 0; i < t.size() && all;) {
        char32_t c;
        i += decode_utf8(t, i, &c);
        const int b = unicode_to_byte(c);
        if (b < 0) {
          all = false;
        } else {
          bytes.push_back(static_cast<char>(b));
        }
      }
      if (!all) {  // a token outside the byte alphabet (e.g. an added token) passes through
        bytes.resize(mark);
        bytes.append(t);
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : tokens) {
      if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && std::isxdigit(t[3]) &&
          std::isxdigit(t[4])) {
        pending.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all.append(t);
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      const std::vector<char32_t> chars = to_chars(t);
      size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin] == content_) ++begin;
      size_t end = chars.size();
      for (size_t i = 0; i < stop_ && end > 0 && chars[end - 1] == content_; ++i) --end;
      std::string out;
      for (size_t i = begin; i < end; ++i) append_utf8(out, chars[i]);
      t.swap(out);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(const json& pattern, std::string content) : content_(std::move(content)) {
    if (pattern.contains("String")) {
      needle_ = pattern["String"].get<std::string>();
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else {
      KILN_FAIL("tokenizer: Replace pattern must be {{\"String\": ..}} or {{\"Regex\": ..}}");
    }
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = replace_matches(t, regex_.get(), needle_, content_);
  }

 private:
  std::string needle_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

// Replacement -> ' '; in the first token every replacement is dropped unless prepend_scheme is
// "never" (HF's behaviour, quirk included).
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool strip_first)
      : replacement_(replacement), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t p = 0; p < t.size();) {
        char32_t c;
        const size_t n = decode_utf8(t, p, &c);
        if (c == replacement_) {
          if (!(i == 0 && strip_first_)) out.push_back(' ');
        } else {
          out.append(t, p, n);
        }
        p += n;
      }
      tokens[i].swap(out);
    }
  }

 private:
  char32_t replacement_;
  bool strip_first_;
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.starts_with(prefix_)) {
          t.erase(0, prefix_.size());
        } else {
          t = " " + t;
        }
      }
      if (cleanup_) t = cleanup(t);
    }
  }

 private:
  static std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, from.size(), to);
      pos += to.size();
    }
    return s;
  }
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (auto [from, to] : kRules) s = replace_all(std::move(s), from, to);
    return s;
  }
  std::string prefix_;
  bool cleanup_;
};

class BpeSuffixDecoder : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::vector<Span> spans = find_string_spans(tokens[i], suffix_);
      std::string out;
      for (const Span& sp : spans) {
        if (sp.is_match) {
          out.append(i + 1 == tokens.size() ? "" : " ");
        } else {
          out.append(tokens[i], sp.begin, sp.end - sp.begin);
        }
      }
      tokens[i].swap(out);
    }
  }

 private:
  std::string suffix_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }

std::unique_ptr<Decoder> make_decoder(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "decoder");
  if (type == "Sequence") {
    return std::make_unique<SequenceDecoder>(
        sequence_items<Decoder>(config, "decoders", make_decoder));
  }
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(
        single_char(config.at("content").get<std::string>(), "Strip content"),
        config.value("start", size_t{0}), config.value("stop", size_t{0}));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(config.at("pattern"),
                                            config.at("content").get<std::string>());
  }
  if (type == "Metaspace") {
    const char32_t replacement =
        single_char(config.value("replacement", std::string("\xE2\x96\x81")), "replacement");
    bool strip_first = config.value("add_prefix_space", true);
    if (config.contains("prepend_scheme")) {
      strip_first = config["prepend_scheme"].get<std::string>() != "never";
    }
    return std::make_unique<MetaspaceDecoder>(replacement, strip_first);
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(config.value("prefix", std::string("##")),
                                              config.value("cleanup", true));
  }
  if (type == "BPEDecoder") {
    return std::make_unique<BpeSuffixDecoder>(config.value("suffix", std::string("</w>")));
  }
  KILN_FAIL("tokenizer: unsupported decoder type '{}'", type);
}

}  // namespace kiln::tok
