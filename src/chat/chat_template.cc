#include "chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/jinja/template.h"
#include "chat/jinja/value.h"
#include "core/check.h"

namespace kiln::chat {
namespace {

namespace fs = std::filesystem;
using jinja::Dict;
using jinja::List;
using jinja::Value;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, "cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void set(Dict& d, const std::string& key, Value v) {
  for (auto& [k, val] : d) {
    if (k == key) {
      val = std::move(v);
      return;
    }
  }
  d.emplace_back(key, std::move(v));
}

// HF's apply_chat_template: keys with None values are dropped, then reasoning is aliased to
// `thinking` and `reasoning_content` (chat_template_utils._alias_reasoning_fields).
Value normalize_message(const Value& m) {
  KILN_CHECK(m.is_dict(), "chat messages must be JSON objects, got {}", m.repr());
  Dict msg;
  for (const auto& [k, v] : m.as_dict())
    if (!v.is_none()) msg.emplace_back(k, v);
  const Value* reasoning = nullptr;
  for (const char* key : {"reasoning_content", "thinking", "reasoning"})
    if (!reasoning) reasoning = jinja::dict_find(msg, key);
  if (!reasoning) return msg;
  const Value r = *reasoning;
  Dict aliased{{"thinking", r}};
  for (const auto& [k, v] : msg) set(aliased, k, v);
  set(aliased, "reasoning_content", r);
  return aliased;
}

std::string render_values(const jinja::Template& program, const Value& special_tokens,
                          const Value& messages, bool add_generation_prompt, const Value& extra) {
  KILN_CHECK(messages.is_list(), "chat messages must be a JSON array");
  KILN_CHECK(extra.is_dict(), "extra chat template context must be a JSON object");
  Dict context = special_tokens.as_dict();
  set(context, "tools", Value(nullptr));
  set(context, "documents", Value(nullptr));
  for (const auto& [k, v] : extra.as_dict()) set(context, k, v);
  List msgs;
  for (const Value& m : messages.as_list()) msgs.push_back(normalize_message(m));
  set(context, "messages", Value(std::move(msgs)));
  set(context, "add_generation_prompt", Value(add_generation_prompt));
  return program.render(context);
}

nlohmann::ordered_json parse_json_file(const fs::path& path) {
  try {
    return nlohmann::ordered_json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    KILN_FAIL("{} is not valid JSON: {}", path.string(), e.what());
  }
}

// A special token in tokenizer_config.json: a string, an AddedToken dict {"content": ...}, or null.
std::optional<std::string> token_text(const nlohmann::ordered_json& j, const std::string& key) {
  if (j.is_null()) return std::nullopt;
  if (j.is_string()) return j.get<std::string>();
  KILN_CHECK(j.is_object() && j.contains("content") && j["content"].is_string(),
             "tokenizer_config.json: {} must be a string or an object with a string \"content\"",
             key);
  return j["content"].get<std::string>();
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, nlohmann::json special_tokens)
    : program_(std::make_shared<const jinja::Template>(source)),
      special_tokens_(std::move(special_tokens)) {
  KILN_CHECK(special_tokens_.is_object(), "special tokens must be a JSON object");
}

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
  return render_values(*program_, jinja::from_json(special_tokens_), jinja::from_json(messages),
                       add_generation_prompt, jinja::from_json(extra_context));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
  return render_values(*program_, jinja::from_json(special_tokens_), jinja::from_json(messages),
                       add_generation_prompt, jinja::from_json(extra_context));
}

std::optional<ChatTemplate> ChatTemplate::from_model_dir(const std::string& dir) {
  const fs::path jinja_path = fs::path(dir) / "chat_template.jinja";
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) {
    config = parse_json_file(config_path);
    KILN_CHECK(config.is_object(), "{} must hold a JSON object", config_path.string());
  }
  std::optional<std::string> source;
  if (fs::exists(jinja_path)) {
    source = read_file(jinja_path);
  } else if (config.contains("chat_template") && !config["chat_template"].is_null()) {
    const auto& t = config["chat_template"];
    if (t.is_string()) {
      source = t.get<std::string>();
    } else {
      KILN_CHECK(t.is_array(), "{}: chat_template must be a string or a list of {{name, template}}",
                 config_path.string());
      for (const auto& named : t) {
        KILN_CHECK(named.is_object() && named.contains("name") && named["name"].is_string() &&
                       named.contains("template") && named["template"].is_string(),
                   "{}: each chat_template entry must be {{\"name\": str, \"template\": str}}",
                   config_path.string());
        if (named["name"] == "default") source = named["template"].get<std::string>();
      }
      KILN_CHECK(source || t.empty(),
                 "{}: the model has several chat templates and none is named \"default\"",
                 config_path.string());
    }
  }
  if (!source) return std::nullopt;
  nlohmann::json specials = nlohmann::json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                          "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    if (auto text = token_text(config[key], key)) specials[key] = *text;
  }
  return ChatTemplate(*source, std::move(specials));
}

}  // namespace kiln::chat
