#include "chat/jinja/template.h"

#include "chat/jinja/eval.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"

namespace kiln::chat::jinja {

Template::Template(const std::string& source) : body_(parse(tokenize(source))) {}

std::string Template::render(const Dict& context) const { return jinja::render(body_, context); }

}  // namespace kiln::chat::jinja
