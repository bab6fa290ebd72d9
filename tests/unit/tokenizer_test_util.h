// Helpers shared by the tokenizer unit tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/pre_tokenizer.h"

namespace kiln::tok::testing {

inline nlohmann::json J(const char* text) { return nlohmann::json::parse(text); }

inline std::vector<std::string> pre_tokenize(const PreTokenizer& p, const std::string& text) {
  std::vector<PreToken> words{{text, true}};
  p.pre_tokenize(words);
  std::vector<std::string> out;
  for (const auto& w : words) out.push_back(w.text);
  return out;
}

inline std::string data_dir(const char* name) {
  return std::string(KILN_SOURCE_DIR) + "/../shared/data/tokenizers/" + name;
}

}  // namespace kiln::tok::testing
