#include "parse_ids.h"

#include <charconv>
#include <limits>

#include "core/check.h"

namespace kiln::cli {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  KILN_CHECK(s.find_first_not_of(" \t") != std::string::npos, "--input_ids: empty prompt");
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    size_t b = pos, e = end;
    while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data() + b, s.data() + e, v);
    KILN_CHECK(b < e && ec == std::errc() && ptr == s.data() + e,
               "--input_ids: '{}' is not an integer (in '{}')", s.substr(b, e - b), s);
    KILN_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
               "--input_ids: {} is out of range", v);
    ids.push_back(static_cast<int32_t>(v));
    pos = end + 1;
  }
  return ids;
}

}  // namespace kiln::cli
