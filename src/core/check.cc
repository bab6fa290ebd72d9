#include "core/check.h"

#include <filesystem>

namespace kiln {

void throw_error(const std::source_location& loc, const std::string& msg) {
  const std::string file = std::filesystem::path(loc.file_name()).filename().string();
  throw Error(fmt::format("{} ({}:{})", msg, file, loc.line()));
}

}  // namespace kiln
