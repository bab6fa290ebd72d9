// Tokens to the statement tree. Unknown filters and tests are rejected here, as Jinja rejects them
// when it compiles a template, so a broken template fails when it is loaded, not on first use.
#pragma once

#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"

namespace kiln::chat::jinja {

// Throws kiln::Error("chat template line N: ...") on a syntax error.
Body parse(const std::vector<Token>& tokens);

}  // namespace kiln::chat::jinja
