// UTF-8 and Unicode character classes, with the semantics of Rust's `char` methods (which HF
// tokenizers uses), so splitting rules match the reference byte for byte. Text inside the
// tokenizer is always valid UTF-8: encode() repairs its input once (lossy, like
// String::from_utf8_lossy) and every later stage can decode without checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace kiln::tok {

// Decodes the code point at s[i] (s valid UTF-8); returns its byte length (1..4).
size_t decode_utf8(std::string_view s, size_t i, char32_t* cp);
using kiln::append_utf8;  // core/utf8.h
size_t utf8_char_len(unsigned char lead);

// Replaces each maximal invalid subsequence by U+FFFD (Rust's from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

bool is_whitespace(char32_t c);      // Unicode White_Space (char::is_whitespace)
bool is_alphanumeric(char32_t c);    // letters and numbers (char::is_alphanumeric)
bool is_numeric(char32_t c);         // Nd | Nl | No (char::is_numeric)
bool is_punctuation(char32_t c);     // ASCII punctuation or Unicode P* (HF is_punc)
bool is_combining_mark(char32_t c);  // Mn
bool is_control(char32_t c);         // Cc | Cf (HF BertNormalizer's is_control, minus \t\n\r)
bool is_cjk(char32_t c);             // CJK ideograph blocks (BertNormalizer)
// Appends the full lowercase mapping of c (char::to_lowercase).
void append_lowercase(std::string& out, char32_t c);

}  // namespace kiln::tok
