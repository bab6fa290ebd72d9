// Strict JSON parsing shared by the io readers. Decision: nlohmann's parser keeps the last of
// duplicate keys and nests without limit; for files that describe binary layouts that is a silent
// hazard, so this wrapper rejects duplicate keys and bounds nesting depth, and reports the parser's
// position, always naming the source.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kiln::io {

// Parses `text`; throws kiln::Error "<source>: ..." on malformed JSON (a NUL byte included, which
// nlohmann would take for the end of input), a duplicate key in any
// object (when reject_duplicates), or nesting deeper than max_depth.
nlohmann::json parse_json(std::string_view text, const std::string& source, bool reject_duplicates,
                          int max_depth);

// "null", "boolean", "integer", "float", "string", "array", "object".
const char* json_type_name(const nlohmann::json& j);

}  // namespace kiln::io
