// UTF-8 helpers shared by the metrics: code points, and whitespace as Python's str.split() /
// str.rstrip() see it (sacrebleu and rouge_score are Python; their results depend on that set).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::eval {

// Code points of s; a malformed byte decodes as itself (0x80..0xFF) so nothing is lost.
std::vector<char32_t> utf8_decode(std::string_view s);
std::string utf8_encode(const std::vector<char32_t>& cps);
void utf8_append(std::string& out, char32_t cp);

// Python's str.isspace(): \t\n\v\f\r, \x1c-\x1f, ' ', U+0085, U+00A0, U+1680, U+2000-U+200A,
// U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_py_space(char32_t cp);

// Python's s.split() (no argument): runs of is_py_space separate words; no empty words.
std::vector<std::string> py_split(std::string_view s);
// Python's s.rstrip() (no argument).
std::string_view py_rstrip(std::string_view s);

}  // namespace kiln::eval
