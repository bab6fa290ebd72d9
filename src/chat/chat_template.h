// Chat templates as Hugging Face applies them: tokenizer_config.json's `chat_template` (a string,
// or a list of {name, template}; "default" is used) or a `chat_template.jinja` file, rendered with
// a Jinja2 subset that covers the templates models ship (see jinja/). The context HF passes:
// messages, add_generation_prompt, bos_token, eos_token (and the other special tokens named in
// tokenizer_config.json), plus raise_exception().
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kiln::chat {

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

 private:
  std::shared_ptr<const void> program_;  // parsed template (jinja::Template)
  nlohmann::json special_tokens_;
};

}  // namespace kiln::chat
