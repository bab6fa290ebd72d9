// GPT-2's reversible byte <-> printable-character map: bytes that are printable Latin-1 map to
// themselves, the other 68 to U+0100.. in byte order. Byte-level BPE vocabularies are spelled in
// it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::tok {

// The UTF-8 spelling of each byte's character.
const std::array<std::string, 256>& byte_to_unicode();
// Byte for a character of the map, or -1.
int unicode_to_byte(char32_t c);
// Maps every byte of s to its character.
std::string bytes_to_unicode_string(std::string_view s);

}  // namespace kiln::tok
