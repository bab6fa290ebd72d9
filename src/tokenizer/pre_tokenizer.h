// Pre-tokenizers cut normalized text into words that the model encodes independently
// (tokenizer.json "pre_tokenizer"). A word remembers whether it starts the input, which is what
// Metaspace's prepend_scheme "first" looks at.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace kiln::tok {

struct PreToken {
  std::string text;       // valid UTF-8
  bool at_start = false;  // begins at byte 0 of the original input
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<PreToken>& words) const = 0;
};

// Builds from tokenizer.json's "pre_tokenizer" object; null gives nullptr. Throws on unknown types.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config);

// GPT-2's ByteLevel pre-tokenizer (the vocab.json + merges.txt route).
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);

}  // namespace kiln::tok
