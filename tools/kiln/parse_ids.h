// Strict parsing of "464,3290,318" into token ids: every element a decimal integer in int32 range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cli {

std::vector<int32_t> parse_ids(const std::string& s);

}  // namespace kiln::cli
