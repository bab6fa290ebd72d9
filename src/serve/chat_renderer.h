// The model folder's chat template as the server's ChatRenderer (kiln::chat::ChatTemplate).
#pragma once

#include <optional>
#include <string>

#include "serve/openai_schema.h"

namespace kiln::serve {

// nullopt when the folder has no chat template; throws kiln::Error when it is malformed.
std::optional<ChatRenderer> load_chat_renderer(const std::string& model_dir);

}  // namespace kiln::serve
