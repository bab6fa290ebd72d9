// Code-point view of UTF-8 strings: Python's len(), indexing, slicing and str.strip() count and
// test code points, not bytes. Invalid bytes decode to U+DC80..U+DCFF (Python's surrogateescape) so
// that any input round-trips.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::chat::jinja::utf8 {

std::vector<char32_t> decode(std::string_view s);
void append(std::string& out, char32_t cp);
std::string encode(const std::vector<char32_t>& cps);
size_t length(std::string_view s);  // number of code points
// str.isspace() for one code point (Unicode White_Space as Python defines it).
bool is_space(char32_t cp);
// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other code
// points are returned unchanged (Python maps all of Unicode, and ß -> SS).
char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);
bool is_cased(char32_t cp);  // has an upper/lower pair in the ranges above

}  // namespace kiln::chat::jinja::utf8
