// Template errors name the template line, not the C++ line: the person reading them is fixing a
// chat template, so these throw directly instead of going through KILN_CHECK. The evaluator adds
// the line of the expression to any other kiln::Error a builtin throws (a filter given the wrong
// type, say) but passes a TemplateError through unchanged, so raise_exception()'s message reaches
// the caller exactly as the template wrote it.
#pragma once

#include <fmt/format.h>

#include <string>

#include "core/check.h"

namespace kiln::chat::jinja {

class TemplateError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] inline void fail_at(int line, const std::string& msg) {
  throw TemplateError(fmt::format("chat template line {}: {}", line, msg));
}

}  // namespace kiln::chat::jinja
