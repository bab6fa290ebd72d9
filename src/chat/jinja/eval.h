// Walks the statement tree with Jinja's runtime semantics: Python truthiness and arithmetic,
// undefined values that render as "" but fail when used as objects, a fresh scope per for-loop
// iteration and per macro call, break/continue (HF enables jinja2.ext.loopcontrols).
#pragma once

#include <string>

#include "chat/jinja/ast.h"

namespace kiln::chat::jinja {

// Renders `body` with the globals (builtins.h) under `context`. Throws kiln::Error with the
// template line, or raise_exception()'s message as is.
std::string render(const Body& body, const Dict& context);

}  // namespace kiln::chat::jinja
