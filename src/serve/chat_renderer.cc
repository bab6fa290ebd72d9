#include "serve/chat_renderer.h"

#include <memory>

#include "chat/chat_template.h"

namespace kiln::serve {

std::optional<ChatRenderer> load_chat_renderer(const std::string& model_dir) {
  auto tmpl = chat::ChatTemplate::from_model_dir(model_dir);
  if (!tmpl) return std::nullopt;
  auto shared = std::make_shared<const chat::ChatTemplate>(std::move(*tmpl));
  return ChatRenderer([shared](const nlohmann::json& messages, bool add_generation_prompt,
                               const nlohmann::json& extra) {
    return shared->render(messages, add_generation_prompt, extra);
  });
}

}  // namespace kiln::serve
