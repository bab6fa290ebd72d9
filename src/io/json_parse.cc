#include "io/json_parse.h"

#include <set>
#include <vector>

#include "core/check.h"

namespace kiln::io {

nlohmann::json parse_json(std::string_view text, const std::string& source, bool reject_duplicates,
                          int max_depth) {
  using json = nlohmann::json;
  // nlohmann stops at a NUL byte as if the input ended there, which would silently ignore the rest;
  // JSON never contains a raw NUL, so reject it.
  const size_t nul = text.find('\0');
  KILN_CHECK(nul == std::string_view::npos, "{}: malformed JSON: NUL byte at offset {}", source,
             nul);
  std::vector<std::set<std::string>> keys;  // one set per open object/array
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        KILN_CHECK(static_cast<int>(keys.size()) < max_depth,
                   "{}: JSON nested deeper than {} levels", source, max_depth);
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (reject_duplicates && !keys.empty()) {
          const std::string& k = parsed.get_ref<const std::string&>();
          KILN_CHECK(keys.back().insert(k).second, "{}: duplicate key '{}' in JSON", source, k);
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const json::parse_error& e) {
    KILN_FAIL("{}: malformed JSON: {}", source, e.what());
  }
}

const char* json_type_name(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "float";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::object:
      return "object";
    default:
      return "binary";
  }
}

}  // namespace kiln::io
