#include "chat/jinja/lexer.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "chat/jinja/error.h"
#include "chat/jinja/utf8.h"

namespace kiln::chat::jinja {
namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "\r\n" and "\r" become "\n"; a single trailing newline is dropped (keep_trailing_newline=False).
std::string normalize_newlines(const std::string& src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's "unicode_escape" decoding of a string literal's body, as Jinja applies it.
std::string unescape(const std::string& s, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case '\n':
        break;  // line continuation
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (size_t k = 1; k <= n; ++k) {
          const int h = i + k < s.size() ? hex_value(s[i + k]) : -1;
          if (h < 0) fail_at(line, fmt::format("truncated \\{} escape in string literal", c));
          cp = cp * 16 + h;
        }
        utf8::append(out, cp);
        i += n;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          char32_t cp = 0;
          size_t k = 0;
          for (; k < 3 && i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7'; ++k)
            cp = cp * 8 + (s[i + k] - '0');
          utf8::append(out, cp);
          i += k - 1;
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') newlines_.push_back(i);
  }

  std::vector<Token> run() {
    bool line_starting = true;  // the text about to be read starts a line
    while (pos_ < src_.size()) {
      size_t start = src_.find('{', pos_);
      while (start != std::string::npos && start + 1 < src_.size() &&
             !std::strchr("{%#", src_[start + 1]))
        start = src_.find('{', start + 1);
      if (start == std::string::npos || start + 1 >= src_.size()) {
        emit_text(src_.substr(pos_), pos_);
        break;
      }
      std::string text = src_.substr(pos_, start - pos_);
      const char kind = src_[start + 1];
      const char mod = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_ws(text.back())) text.pop_back();
      } else if (kind != '{' && mod != '+') {  // lstrip_blocks
        const size_t nl = text.rfind('\n');
        const size_t lpos = nl == std::string::npos ? 0 : nl + 1;
        if ((lpos > 0 || line_starting) &&
            std::all_of(text.begin() + lpos, text.end(), [](char c) { return is_ws(c); }))
          text.resize(lpos);
      }
      emit_text(text, pos_);
      pos_ = start + 2 + (mod == '-' || (mod == '+' && kind != '{') ? 1 : 0);
      const int tag_line = line_at(start);
      bool strip_after = false, keep_newline = false;
      if (kind == '#') {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) fail_at(tag_line, "unterminated comment");
        strip_after = end > pos_ && src_[end - 1] == '-';
        keep_newline = end > pos_ && src_[end - 1] == '+';
        pos_ = end + 2;
      } else if (kind == '%' && try_raw(tag_line, strip_after, keep_newline)) {
      } else {
        tokens_.push_back(
            {kind == '{' ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", tag_line});
        lex_tag(kind == '{' ? '}' : '%', tag_line, strip_after, keep_newline);
      }
      const size_t before = pos_;
      if (strip_after) {
        while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      } else if (kind != '{' && !keep_newline && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;  // trim_blocks
      }
      line_starting = pos_ > before && src_[pos_ - 1] == '\n';
    }
    tokens_.push_back({Token::Kind::kEof, "", line_at(src_.size())});
    return std::move(tokens_);
  }

 private:
  int line_at(size_t pos) const {
    return 1 + static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), pos) -
                                newlines_.begin());
  }

  void emit_text(const std::string& text, size_t at) {
    if (!text.empty()) tokens_.push_back({Token::Kind::kText, text, line_at(at)});
  }

  // `{% raw %}...{% endraw %}` becomes one text token. pos_ is just past "{%" (and its modifier).
  bool try_raw(int line, bool& strip_after, bool& keep_newline) {
    size_t p = pos_;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    while (p < src_.size() && is_ws(src_[p])) ++p;
    const bool strip_body = src_.compare(p, 3, "-%}") == 0;
    if (!strip_body && src_.compare(p, 2, "%}") != 0) return false;
    p += strip_body ? 3 : 2;
    if (strip_body) {
      while (p < src_.size() && is_ws(src_[p])) ++p;
    } else if (p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    // Find "{%", optional "-"/"+", spaces, "endraw", spaces, optional "-"/"+", "%}".
    for (size_t q = src_.find("{%", p); q != std::string::npos; q = src_.find("{%", q + 2)) {
      size_t r = q + 2;
      const char mod = r < src_.size() ? src_[r] : '\0';
      if (mod == '-' || mod == '+') ++r;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < src_.size() && is_ws(src_[r])) ++r;
      const char end_mod = r < src_.size() ? src_[r] : '\0';
      if (end_mod == '-' || end_mod == '+') ++r;
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string body = src_.substr(p, q - p);
      if (mod == '-') {
        while (!body.empty() && is_ws(body.back())) body.pop_back();
      } else if (mod != '+') {
        const size_t nl = body.rfind('\n');
        const size_t lpos = nl == std::string::npos ? 0 : nl + 1;
        if (std::all_of(body.begin() + lpos, body.end(), [](char c) { return is_ws(c); }))
          body.resize(lpos);
      }
      emit_text(body, p);
      strip_after = end_mod == '-';
      keep_newline = end_mod == '+';
      pos_ = r + 2;
      return true;
    }
    fail_at(line, "unterminated raw block (missing '{% endraw %}')");
  }

  // Expression tokens up to the closing "}}" or "%}" (ignored while brackets are open).
  void lex_tag(char close, int tag_line, bool& strip_after, bool& keep_newline) {
    int depth = 0;
    const std::string end = std::string(1, close) + "}";
    while (true) {
      while (pos_ < src_.size() && is_ws(src_[pos_])) ++pos_;
      if (pos_ >= src_.size())
        fail_at(tag_line, close == '}' ? "unterminated '{{' (missing '}}')"
                                       : "unterminated '{%' (missing '%}')");
      const int line = line_at(pos_);
      const char c = src_[pos_];
      if (depth == 0) {
        const bool mod =
            (c == '-' || (c == '+' && close == '%')) && src_.compare(pos_ + 1, 2, end) == 0;
        if (mod || src_.compare(pos_, 2, end) == 0) {
          strip_after = mod && c == '-';
          keep_newline = mod && c == '+';
          pos_ += mod ? 3 : 2;
          tokens_.push_back(
              {close == '}' ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", line});
          return;
        }
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos_;
        while (e < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
          ++e;
        tokens_.push_back({Token::Kind::kName, src_.substr(pos_, e - pos_), line});
        pos_ = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(line);
      } else if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < src_.size() && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
        if (e >= src_.size()) fail_at(line, "unterminated string literal");
        tokens_.push_back(
            {Token::Kind::kString, unescape(src_.substr(pos_ + 1, e - pos_ - 1), line), line});
        pos_ = e + 1;
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*",
                                           "/",  "%",  "~",  "<",  ">",  "=",  "(", ")", "[",
                                           "]",  "{",  "}",  ",",  ".",  ":",  "|"};
        const char* op = nullptr;
        for (const char* o : kOps) {
          if (src_.compare(pos_, std::strlen(o), o) == 0) {
            op = o;
            break;
          }
        }
        if (!op) fail_at(line, fmt::format("unexpected character '{}'", c));
        if (std::strchr("([{", op[0]) && op[1] == '\0') ++depth;
        if (std::strchr(")]}", op[0]) && op[1] == '\0') {
          if (depth == 0) fail_at(line, fmt::format("unexpected '{}'", op));
          --depth;
        }
        tokens_.push_back({Token::Kind::kOp, op, line});
        pos_ += std::strlen(op);
      }
    }
  }

  void lex_number(int line) {
    auto digits = [&](size_t p) {
      while (p < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_'))
        ++p;
      return p;
    };
    size_t e = digits(pos_);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      is_float = true;
      e = digits(e + 1);
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t p = e + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p]))) {
        is_float = true;
        e = digits(p);
      }
    }
    std::string text = src_.substr(pos_, e - pos_);
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    tokens_.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInt, text, line});
    pos_ = e;
  }

  std::string src_;
  std::vector<size_t> newlines_;  // offsets of '\n', for line numbers
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace kiln::chat::jinja
