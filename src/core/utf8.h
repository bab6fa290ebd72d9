// UTF-8 encoding of one code point, shared by the tokenizer, the chat templates and the metrics.
#pragma once

#include <string>

namespace kiln {

// Appends cp (at most U+10FFFF; no validation of surrogates) as 1-4 UTF-8 bytes.
void append_utf8(std::string& out, char32_t cp);

}  // namespace kiln
