// Normalizers rewrite text before pre-tokenization (tokenizer.json "normalizer"). kiln keeps no
// offset alignments (encode returns ids only), so a normalizer is a plain string transform.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace kiln::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;  // text: valid UTF-8, in place
};

// Builds from tokenizer.json's "normalizer" object; null gives nullptr. Throws on unknown types.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config);

}  // namespace kiln::tok
