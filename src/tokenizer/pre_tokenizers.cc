// HF pre-tokenizers, one small class each, all built on split.h: ByteLevel, Split, Whitespace,
// WhitespaceSplit, BertPreTokenizer, Metaspace, Digits, Punctuation, CharDelimiterSplit, Sequence.
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/component_config.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/split.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

using json = nlohmann::json;

// GPT-2's word pattern (HF ByteLevel).
constexpr const char* kByteLevelPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

template <typename SpansFn>
void split_words(std::vector<PreToken>& words, SplitBehavior behavior, bool invert,
                 SpansFn&& spans_of) {
  std::vector<PreToken> out;
  out.reserve(words.size());
  for (PreToken& w : words) {
    for (auto [b, e] : apply_split_behavior(spans_of(w.text), behavior, invert)) {
      out.push_back({w.text.substr(b, e - b), w.at_start && b == 0});
    }
  }
  words.swap(out);
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> items)
      : items_(std::move(items)) {}
  void pre_tokenize(std::vector<PreToken>& words) const override {
    for (const auto& p : items_) p->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kByteLevelPattern);
  }
  void pre_tokenize(std::vector<PreToken>& words) const override {
    if (add_prefix_space_) {
      for (PreToken& w : words) {
        if (w.text.empty() || w.text[0] != ' ') w.text = " " + w.text;
      }
    }
    if (regex_) {
      split_words(words, SplitBehavior::kIsolated, false,
                  [&](const std::string& s) { return find_regex_spans(s, *regex_); });
    }
    for (PreToken& w : words) w.text = bytes_to_unicode_string(w.text);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(const json& pattern, SplitBehavior behavior, bool invert)
      : behavior_(behavior), invert_(invert) {
    if (pattern.contains("String")) {
      needle_ = pattern["String"].get<std::string>();
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else {
      KILN_FAIL("tokenizer: Split pattern must be {{\"String\": ..}} or {{\"Regex\": ..}}");
    }
  }
  void pre_tokenize(std::vector<PreToken>& words) const override {
    split_words(words, behavior_, invert_, [&](const std::string& s) {
      return regex_ ? find_regex_spans(s, *regex_) : find_string_spans(s, needle_);
    });
  }

 private:
  std::string needle_;
  std::unique_ptr<Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class RegexSplitPreTokenizer : public PreTokenizer {  // Whitespace: keep \w+ and [^\w\s]+ runs
 public:
  RegexSplitPreTokenizer(const char* pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<PreToken>& words) const override {
    split_words(words, behavior_, invert_,
                [&](const std::string& s) { return find_regex_spans(s, regex_); });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class CharSplitPreTokenizer : public PreTokenizer {
 public:
  using Pred = bool (*)(char32_t);
  CharSplitPreTokenizer(std::vector<std::pair<Pred, SplitBehavior>> steps)
      : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<PreToken>& words) const override {
    for (auto [pred, behavior] : steps_) {
      split_words(words, behavior, false,
                  [&](const std::string& s) { return find_char_spans(s, pred); });
    }
  }

 private:
  std::vector<std::pair<Pred, SplitBehavior>> steps_;
};

class CharDelimiterPreTokenizer : public PreTokenizer {
 public:
  explicit CharDelimiterPreTokenizer(std::string delimiter) : delimiter_(std::move(delimiter)) {}
  void pre_tokenize(std::vector<PreToken>& words) const override {
    split_words(words, SplitBehavior::kRemoved, false,
                [&](const std::string& s) { return find_string_spans(s, delimiter_); });
  }

 private:
  std::string delimiter_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<PreToken>& words) const override {
    for (PreToken& w : words) {
      std::string replaced;
      replaced.reserve(w.text.size() + replacement_.size());
      for (char ch : w.text) {
        if (ch == ' ') {
          replaced.append(replacement_);
        } else {
          replaced.push_back(ch);
        }
      }
      const bool starts = replaced.starts_with(replacement_);
      if (!starts &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && w.at_start))) {
        replaced.insert(0, replacement_);
      }
      w.text.swap(replaced);
    }
    if (split_) {
      split_words(words, SplitBehavior::kMergedWithNext, false,
                  [&](const std::string& s) { return find_string_spans(s, replacement_); });
    }
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

bool is_bert_punctuation(char32_t c) { return is_punctuation(c); }
bool is_whitespace_pred(char32_t c) { return is_whitespace(c); }
bool is_numeric_pred(char32_t c) { return is_numeric(c); }

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "pre_tokenizer");
  if (type == "Sequence") {
    return std::make_unique<SequencePreTokenizer>(
        sequence_items<PreTokenizer>(config, "pretokenizers", make_pre_tokenizer));
  }
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(config.value("add_prefix_space", true),
                                         config.value("use_regex", true));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(
        config.at("pattern"), parse_split_behavior(config.at("behavior").get<std::string>()),
        config.value("invert", false));
  }
  if (type == "Whitespace") {
    return std::make_unique<RegexSplitPreTokenizer>(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved,
                                                    true);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharSplitPreTokenizer>(
        std::vector<std::pair<CharSplitPreTokenizer::Pred, SplitBehavior>>{
            {is_whitespace_pred, SplitBehavior::kRemoved}});
  }
  if (type == "BertPreTokenizer") {
    return std::make_unique<CharSplitPreTokenizer>(
        std::vector<std::pair<CharSplitPreTokenizer::Pred, SplitBehavior>>{
            {is_whitespace_pred, SplitBehavior::kRemoved},
            {is_bert_punctuation, SplitBehavior::kIsolated}});
  }
  if (type == "Punctuation") {
    const SplitBehavior behavior = parse_split_behavior(config.value("behavior", "Isolated"));
    return std::make_unique<CharSplitPreTokenizer>(
        std::vector<std::pair<CharSplitPreTokenizer::Pred, SplitBehavior>>{
            {is_bert_punctuation, behavior}});
  }
  if (type == "Digits") {
    const SplitBehavior behavior = config.value("individual_digits", false)
                                       ? SplitBehavior::kIsolated
                                       : SplitBehavior::kContiguous;
    return std::make_unique<CharSplitPreTokenizer>(
        std::vector<std::pair<CharSplitPreTokenizer::Pred, SplitBehavior>>{
            {is_numeric_pred, behavior}});
  }
  if (type == "CharDelimiterSplit") {
    return std::make_unique<CharDelimiterPreTokenizer>(config.at("delimiter").get<std::string>());
  }
  if (type == "Metaspace") {
    const std::string replacement = config.value("replacement", std::string("\xE2\x96\x81"));
    PrependScheme scheme = PrependScheme::kAlways;
    if (config.contains("prepend_scheme")) {
      const std::string s = config["prepend_scheme"].get<std::string>();
      if (s == "first") {
        scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        scheme = PrependScheme::kNever;
      } else {
        KILN_CHECK(s == "always", "tokenizer: unknown Metaspace prepend_scheme '{}'", s);
      }
    } else if (!config.value("add_prefix_space", true)) {
      scheme = PrependScheme::kNever;
    }
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme,
                                                   config.value("split", true));
  }
  KILN_FAIL("tokenizer: unsupported pre_tokenizer type '{}'", type);
}

}  // namespace kiln::tok
