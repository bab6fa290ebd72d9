// A compiled Jinja template: the entry point of the interpreter (lexer.h -> parser.h -> eval.h).
// Covers the Jinja2 subset chat templates use, configured as HF configures it: trim_blocks,
// lstrip_blocks, loop controls, HF's tojson / raise_exception / strftime_now.
#pragma once

#include <string>

#include "chat/jinja/ast.h"

namespace kiln::chat::jinja {

class Template {
 public:
  // Throws kiln::Error("chat template line N: ...") when the source does not parse.
  explicit Template(const std::string& source);

  // context: the variables the template sees (messages, add_generation_prompt, ...).
  std::string render(const Dict& context) const;

 private:
  Body body_;
};

}  // namespace kiln::chat::jinja
