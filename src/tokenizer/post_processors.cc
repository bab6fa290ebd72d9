// TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel (offsets only: a no-op on ids)
// and Sequence. Every template reduces to fixed prefix and suffix id lists around $A.
#include <nlohmann/json.hpp>
#include <string>

#include "core/check.h"
#include "tokenizer/component_config.h"
#include "tokenizer/post_processor.h"

namespace kiln::tok {

namespace {

using json = nlohmann::json;

class AffixProcessor : public PostProcessor {
 public:
  AffixProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

class NoopProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> items)
      : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& p : items_) p->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

std::unique_ptr<PostProcessor> make_template(const json& config) {
  const json& special = config.contains("special_tokens") ? config["special_tokens"] : json();
  auto special_ids = [&](const std::string& name) {
    KILN_CHECK(special.is_object() && special.contains(name),
               "tokenizer: TemplateProcessing uses special token '{}' that special_tokens lacks",
               name);
    return special[name].at("ids").get<std::vector<int32_t>>();
  };
  // Items are {"SpecialToken": {"id": ..}} / {"Sequence": {"id": "A"}}, or the string form
  // "[CLS] $A [SEP]" (pieces may carry a ":type_id" suffix).
  std::vector<std::pair<bool, std::string>> items;  // (is_sequence, special name)
  const json& single = config.at("single");
  if (single.is_string()) {
    const std::string s = single.get<std::string>();
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find(' ', pos);
      if (end == std::string::npos) end = s.size();
      std::string piece = s.substr(pos, end - pos);
      pos = end + 1;
      if (piece.empty()) continue;
      if (piece[0] == '$') {
        items.emplace_back(true, "");
      } else {
        const size_t colon = piece.rfind(':');
        if (colon != std::string::npos && colon > 0) piece.resize(colon);
        items.emplace_back(false, piece);
      }
    }
  } else {
    for (const json& item : single) {
      if (item.contains("Sequence")) {
        items.emplace_back(true, "");
      } else {
        KILN_CHECK(item.contains("SpecialToken"), "tokenizer: bad TemplateProcessing item {}",
                   item.dump());
        items.emplace_back(false, item["SpecialToken"].at("id").get<std::string>());
      }
    }
  }
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (const auto& [is_sequence, name] : items) {
    if (is_sequence) {
      KILN_CHECK(!seen_sequence, "tokenizer: single TemplateProcessing has more than one $A");
      seen_sequence = true;
      continue;
    }
    const std::vector<int32_t> ids = special_ids(name);
    auto& dst = seen_sequence ? suffix : prefix;
    dst.insert(dst.end(), ids.begin(), ids.end());
  }
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

int32_t pair_id(const json& config, const char* key) {
  const json& p = config.at(key);
  KILN_CHECK(p.is_array() && p.size() == 2, "tokenizer: post_processor \"{}\" must be [token, id]",
             key);
  return p[1].get<int32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> make_affix_processor(std::vector<int32_t> prefix,
                                                    std::vector<int32_t> suffix) {
  return std::make_unique<AffixProcessor>(std::move(prefix), std::move(suffix));
}

std::unique_ptr<PostProcessor> make_post_processor(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "post_processor");
  if (type == "TemplateProcessing") return make_template(config);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    return make_affix_processor({pair_id(config, "cls")}, {pair_id(config, "sep")});
  }
  if (type == "ByteLevel") return std::make_unique<NoopProcessor>();
  if (type == "Sequence") {
    return std::make_unique<SequenceProcessor>(
        sequence_items<PostProcessor>(config, "processors", make_post_processor));
  }
  KILN_FAIL("tokenizer: unsupported post_processor type '{}'", type);
}

}  // namespace kiln::tok
