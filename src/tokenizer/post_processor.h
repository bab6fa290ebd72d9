// Post-processors add special tokens around an encoded sequence (tokenizer.json
// "post_processor"). kiln encodes single sequences, so only the single-sequence template applies.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace kiln::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // ids: the encoded sequence; special tokens are added only when add_special_tokens.
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
};

// Builds from tokenizer.json's "post_processor" object; null gives nullptr. Throws on unknown
// types.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& config);
// prefix + ids + suffix (what tokenizer_config.json's add_bos_token / add_eos_token ask for).
std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix,
                                                    std::vector<int32_t> suffix);

}  // namespace kiln::tok
