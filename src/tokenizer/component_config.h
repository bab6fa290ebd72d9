// What the tokenizer.json component factories (normalizers, pre_tokenizers, decoders,
// post_processors) share: a component's checked "type", and the items of a "Sequence".
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/check.h"

namespace kiln::tok {

// config["type"]; fails with "tokenizer: <what> must be an object with a "type"" otherwise.
inline std::string component_type(const nlohmann::json& config, const char* what) {
  KILN_CHECK(config.is_object() && config.contains("type") && config["type"].is_string(),
             "tokenizer: {} must be an object with a \"type\"", what);
  return config["type"].get<std::string>();
}

// make(item) for every item of config[key] (a "Sequence" component), null results skipped.
template <class T, class Make>
std::vector<std::unique_ptr<T>> sequence_items(const nlohmann::json& config, const char* key,
                                               Make make) {
  std::vector<std::unique_ptr<T>> items;
  for (const nlohmann::json& item : config.at(key))
    if (auto c = make(item)) items.push_back(std::move(c));
  return items;
}

}  // namespace kiln::tok
