// Tables are built once on first use (function-local statics, thread-safe).
#include "tokenizer/byte_level.h"

#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

struct Tables {
  std::array<std::string, 256> to_unicode;
  std::array<int, 512> to_byte;  // indexed by code point; all mapped code points are < 0x144
  Tables() {
    to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp =
          printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      append_utf8(to_unicode[b], cp);
      to_byte[cp] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() { return tables().to_unicode; }

int unicode_to_byte(char32_t c) { return c < 512 ? tables().to_byte[c] : -1; }

std::string bytes_to_unicode_string(std::string_view s) {
  const auto& map = tables().to_unicode;
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char b : s) out.append(map[b]);
  return out;
}

}  // namespace kiln::tok
