#include "chat/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja/utf8.h"
#include "core/check.h"

namespace kiln::chat::jinja {

double Value::as_double() const {
  if (is_float()) return std::get<double>(v_);
  if (is_bool()) return as_bool() ? 1.0 : 0.0;
  return static_cast<double>(as_int());
}

std::string Value::type_name() const {
  switch (v_.index()) {
    case 0:
      return "Undefined";
    case 1:
      return "NoneType";
    case 2:
      return "bool";
    case 3:
      return "int";
    case 4:
      return "float";
    case 5:
      return "str";
    case 6:
      return "list";
    case 7:
      return "dict";
    case 8:
      return "Namespace";
    default:
      return "function";
  }
}

bool Value::truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return as_double() != 0.0;
  if (is_string()) return !as_string().empty();
  if (is_list()) return !as_list().empty();
  if (is_dict()) return !as_dict().empty();
  return true;
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+02": shortest round-trip digits
  const bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t e = sci.find('e');
  const int exp = std::stoi(sci.substr(e + 1));
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {  // Python repr: fixed notation for 1e-4 <= |d| < 1e16
    if (exp < 0) {
      out.append("0.").append(-exp - 1, '0').append(digits);
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out.append(digits).append(exp + 1 - digits.size(), '0').append(".0");
    } else {
      out.append(digits, 0, exp + 1).append(".").append(digits, exp + 1);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return out;
}

namespace {

std::string repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t cp : utf8::decode(s)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", static_cast<unsigned>(cp));
      out += b;
    } else {
      utf8::append(out, cp);
    }
  }
  out += quote;
  return out;
}

}  // namespace

std::string Value::str() const {
  if (is_undefined()) return "";
  if (is_string()) return as_string();
  return repr();
}

std::string Value::repr() const {
  if (is_undefined()) return "Undefined";
  if (is_none()) return "None";
  if (is_bool()) return as_bool() ? "True" : "False";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return format_float(as_double());
  if (is_string()) return repr_string(as_string());
  if (is_list()) {
    std::string out = tuple_ ? "(" : "[";
    for (size_t i = 0; i < as_list().size(); ++i) {
      if (i) out += ", ";
      out += as_list()[i].repr();
    }
    return out + (!tuple_ ? "]" : as_list().size() == 1 ? ",)" : ")");
  }
  if (is_dict() || is_namespace()) {
    const Dict& d = is_dict() ? as_dict() : as_namespace().attrs;
    std::string out = is_dict() ? "{" : "<Namespace {";
    for (size_t i = 0; i < d.size(); ++i) {
      if (i) out += ", ";
      out += repr_string(d[i].first);
      out += ": ";
      out += d[i].second.repr();
    }
    return out + (is_dict() ? "}" : "}>");
  }
  return "<function>";
}

const Value* dict_find(const Dict& d, const std::string& key) {
  for (const auto& [k, v] : d)
    if (k == key) return &v;
  return nullptr;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
    const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
    return x == y;
  }
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_none() || b.is_none()) return a.is_none() && b.is_none();
  if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
  if (a.is_list() && b.is_list()) {
    const List &x = a.as_list(), &y = b.as_list();
    if (x.size() != y.size() || a.is_tuple() != b.is_tuple()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!equals(x[i], y[i])) return false;
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    const Dict &x = a.as_dict(), &y = b.as_dict();
    if (x.size() != y.size()) return false;
    for (const auto& [k, v] : x) {
      const Value* w = dict_find(y, k);
      if (!w || !equals(v, *w)) return false;
    }
    return true;
  }
  if (a.is_namespace() && b.is_namespace()) return &a.as_namespace() == &b.as_namespace();
  return false;
}

bool less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 keeps order
  if (a.is_list() && b.is_list()) {
    const List &x = a.as_list(), &y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw Error(fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(),
                          b.type_name()));
}

namespace {

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t cp : utf8::decode(s)) {
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default: {
        char b[16];
        if (cp < 0x20 || (ensure_ascii && cp > 0x7E && cp < 0x10000)) {
          std::snprintf(b, sizeof(b), "\\u%04x", static_cast<unsigned>(cp));
          out += b;
        } else if (ensure_ascii && cp >= 0x10000) {
          const char32_t v = cp - 0x10000;
          std::snprintf(b, sizeof(b), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                        static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
          out += b;
        } else {
          utf8::append(out, cp);
        }
      }
    }
  }
  out += '"';
}

void dump(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  const bool pretty = o.indent >= 0 || !o.indent_str.empty();
  const std::string item_sep = !o.item_sep.empty() ? o.item_sep : pretty ? "," : ", ";
  const std::string key_sep = !o.key_sep.empty() ? o.key_sep : ": ";
  const std::string unit =
      !o.indent_str.empty() ? o.indent_str : std::string(std::max(o.indent, 0), ' ');
  auto newline = [&](int d) {
    if (!pretty) return;
    out += '\n';
    for (int i = 0; i < d; ++i) out += unit;
  };
  if (v.is_none()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    out += std::to_string(v.as_int());
  } else if (v.is_float()) {
    const double d = v.as_double();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity")
                           : format_float(d);
  } else if (v.is_string()) {
    dump_string(out, v.as_string(), o.ensure_ascii);
  } else if (v.is_list()) {
    const List& l = v.as_list();
    if (l.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < l.size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      dump(out, l[i], o, depth + 1);
    }
    newline(depth);
    out += ']';
  } else if (v.is_dict()) {
    Dict d = v.as_dict();
    if (d.empty()) {
      out += "{}";
      return;
    }
    if (o.sort_keys) {
      std::stable_sort(d.begin(), d.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    out += '{';
    for (size_t i = 0; i < d.size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      dump_string(out, d[i].first, o.ensure_ascii);
      out += key_sep;
      dump(out, d[i].second, o, depth + 1);
    }
    newline(depth);
    out += '}';
  } else {
    throw Error(fmt::format("Object of type {} is not JSON serializable", v.type_name()));
  }
}

}  // namespace

std::string dump_json(const Value& v, const JsonOptions& opts) {
  std::string out;
  dump(out, v, opts, 0);
  return out;
}

}  // namespace kiln::chat::jinja
