// Errors: the library throws kiln::Error with the source location of the failed check; the C API,
// the CLI and the HTTP server turn it into a status. No exit/abort in the library.
#pragma once

#include <fmt/format.h>

#include <source_location>
#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

[[noreturn]] void throw_error(const std::source_location& loc, const std::string& msg);

}  // namespace kiln

// KILN_CHECK(cond, "fmt {}", args...): throws kiln::Error("msg (file:line)") when cond is false.
#define KILN_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) [[unlikely]]                                                      \
      ::kiln::throw_error(std::source_location::current(), fmt::format(__VA_ARGS__)); \
  } while (0)

#define KILN_FAIL(...) ::kiln::throw_error(std::source_location::current(), fmt::format(__VA_ARGS__))
