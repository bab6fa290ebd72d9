#include "core/env.h"

#include <cstdlib>
#include <cstring>

namespace kiln {

bool switched_off(const char* name) {
  const char* e = std::getenv(name);
  return e && std::strcmp(e, "0") == 0;
}

bool switched_on(const char* name) {
  const char* e = std::getenv(name);
  return e && std::strcmp(e, "1") == 0;
}

}  // namespace kiln
