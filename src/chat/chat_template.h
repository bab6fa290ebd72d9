// Chat templates as Hugging Face applies them: tokenizer_config.json's `chat_template` (a string,
// or a list of {name, template}; "default" is used) or a `chat_template.jinja` file, rendered with
// a Jinja2 subset that covers the templates models ship (see jinja/). The context HF passes:
// messages, add_generation_prompt, bos_token, eos_token (and the other special tokens named in
// tokenizer_config.json), tools/documents (None unless extra_context has them), plus
// raise_exception(). As HF does, message keys whose value is null are dropped and a message's
// reasoning (reasoning_content / thinking / reasoning) is visible under the first two names.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kiln::chat {

namespace jinja {
class Template;
}

class ChatTemplate {
 public:
  // nullopt when the folder has no chat template. Throws kiln::Error when the template file or
  // tokenizer_config.json is malformed (or the template does not parse).
  static std::optional<ChatTemplate> from_model_dir(const std::string& dir);
  // source: the Jinja text; special_tokens: e.g. {"bos_token": "<s>", "eos_token": "</s>"}.
  ChatTemplate(const std::string& source, nlohmann::json special_tokens);

  // messages: [{"role": ..., "content": ...}, ...] as in OpenAI's chat API. Throws kiln::Error
  // with the template's own message when it calls raise_exception (e.g. roles not alternating).
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra_context = nlohmann::json::object()) const;
  // The same, keeping the key order of the request's JSON objects (what `tojson` and `.items()`
  // show the template, e.g. tool schemas), as HF's Python dicts do.
  std::string render(
      const nlohmann::ordered_json& messages, bool add_generation_prompt,
      const nlohmann::ordered_json& extra_context = nlohmann::ordered_json::object()) const;

 private:
  std::shared_ptr<const jinja::Template> program_;
  nlohmann::ordered_json special_tokens_;
};

}  // namespace kiln::chat
