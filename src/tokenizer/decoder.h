// Decoders turn tokens back into text (tokenizer.json "decoder"). As in HF, each decoder maps the
// token list to a new list (decode_chain) and the final text is their concatenation.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace kiln::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

// Builds from tokenizer.json's "decoder" object; null gives nullptr. Throws on unknown types.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& config);
std::unique_ptr<Decoder> make_byte_level_decoder();

}  // namespace kiln::tok
