// Template text to tokens, with Jinja's whitespace rules applied here so the parser never sees
// them: HF renders with trim_blocks (drop the newline after a block or comment tag) and
// lstrip_blocks (drop spaces before a block or comment tag that starts a line); `{%-`/`-%}` strip
// all whitespace on that side, `{%+`/`+%}` opt out of lstrip/trim. As Jinja's lexer does, newlines
// are normalised to "\n" and one trailing newline of the template is dropped. Comments and
// `{% raw %}` are resolved here too.
#pragma once

#include <string>
#include <vector>

namespace kiln::chat::jinja {

struct Token {
  enum class Kind {
    kText,
    kVarBegin,
    kVarEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEof
  };
  Kind kind;
  std::string text;  // text data, name, decoded string literal, number or operator spelling
  int line;
};

// Throws kiln::Error("template line N: ...") on unterminated tags, strings or bad characters.
std::vector<Token> tokenize(const std::string& source);

}  // namespace kiln::chat::jinja
