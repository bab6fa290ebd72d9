// Attribute and item access as Jinja's sandbox does it: `x.name` tries the attribute (a method
// such as dict.items) before the key, `x[name]` the key before the attribute. Only the read-only
// str and dict methods are exposed (ImmutableSandboxedEnvironment forbids mutating ones).
#include <algorithm>
#include <cctype>
#include <optional>

#include "chat/jinja/builtins.h"
#include "chat/jinja/utf8.h"
#include "core/check.h"

namespace kiln::chat::jinja {

const Value* find_arg(const Args& args, size_t index, const char* name) {
  if (index < args.pos.size()) return &args.pos[index];
  for (const auto& [k, v] : args.kw)
    if (k == name) return &v;
  return nullptr;
}

void check_args(const Args& args, size_t max_pos, std::initializer_list<const char*> names,
                const char* fn) {
  if (args.pos.size() > max_pos)
    throw Error(fmt::format("{}() takes at most {} positional arguments ({} given)", fn, max_pos,
                            args.pos.size()));
  for (const auto& [k, v] : args.kw) {
    if (std::none_of(names.begin(), names.end(), [&](const char* n) { return k == n; }))
      throw Error(fmt::format("{}() got an unexpected keyword argument '{}'", fn, k));
  }
}

std::string to_upper(const std::string& s) {
  std::vector<char32_t> cps = utf8::decode(s);
  for (char32_t& c : cps) c = utf8::to_upper(c);
  return utf8::encode(cps);
}

std::string to_lower(const std::string& s) {
  std::vector<char32_t> cps = utf8::decode(s);
  for (char32_t& c : cps) c = utf8::to_lower(c);
  return utf8::encode(cps);
}

std::string capitalize(const std::string& s) {
  std::vector<char32_t> cps = utf8::decode(s);
  for (size_t i = 0; i < cps.size(); ++i)
    cps[i] = i == 0 ? utf8::to_upper(cps[i]) : utf8::to_lower(cps[i]);
  return utf8::encode(cps);
}

List iterate(const Value& v) {
  if (v.is_list()) return v.as_list();
  if (v.is_undefined()) return {};
  if (v.is_dict()) {
    List keys;
    for (const auto& [k, _] : v.as_dict()) keys.emplace_back(k);
    return keys;
  }
  if (v.is_string()) {
    List chars;
    for (char32_t cp : utf8::decode(v.as_string())) {
      std::string c;
      utf8::append(c, cp);
      chars.emplace_back(std::move(c));
    }
    return chars;
  }
  throw Error(fmt::format("'{}' object is not iterable", v.type_name()));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      throw Error(
          fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict())
    return item.is_string() && dict_find(container.as_dict(), item.as_string());
  if (container.is_namespace()) return false;
  for (const Value& v : iterate(container))
    if (equals(v, item)) return true;
  return false;
}

namespace {

// Python's str.strip family: chars == nullptr strips whitespace.
std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  const std::vector<char32_t> cps = utf8::decode(s);
  std::vector<char32_t> set;
  const bool ws = !chars || chars->is_none();
  if (!ws) set = utf8::decode(chars->str());
  auto drop = [&](char32_t c) {
    return ws ? utf8::is_space(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && drop(cps[b])) ++b;
  if (right)
    while (e > b && drop(cps[e - 1])) --e;
  return utf8::encode(std::vector<char32_t>(cps.begin() + b, cps.begin() + e));
}

List split(const std::string& s, const Value* sep, int64_t maxsplit) {
  List out;
  if (!sep || sep->is_none()) {  // runs of whitespace; no empty pieces
    const std::vector<char32_t> cps = utf8::decode(s);
    size_t i = 0;
    while (true) {
      while (i < cps.size() && utf8::is_space(cps[i])) ++i;
      if (i == cps.size()) break;
      size_t j = i;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        j = cps.size();
        while (j > i && utf8::is_space(cps[j - 1])) --j;
      } else {
        while (j < cps.size() && !utf8::is_space(cps[j])) ++j;
      }
      out.emplace_back(utf8::encode(std::vector<char32_t>(cps.begin() + i, cps.begin() + j)));
      i = j;
    }
    return out;
  }
  const std::string d = sep->str();
  if (d.empty()) throw Error("empty separator");
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t p = s.find(d, start);
    if (p == std::string::npos) break;
    out.emplace_back(s.substr(start, p - start));
    start = p + d.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` between every code point
    const std::vector<char32_t> cps = utf8::decode(s);
    int64_t n = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      if (i < cps.size()) utf8::append(out, cps[i]);
    }
    return out;
  }
  size_t start = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t p = s.find(from, start);
    if (p == std::string::npos) break;
    out += s.substr(start, p - start) + to;
    start = p + from.size();
  }
  return out + s.substr(start);
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  if (affix.is_list()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(),
                       [&](const Value& a) { return affix_match(s, a, prefix); });
  }
  if (!affix.is_string())
    throw Error("startswith/endswith first arg must be str or a tuple of str");
  const std::string& a = affix.as_string();
  if (a.size() > s.size()) return false;
  return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
}

// Python's str.title(): a cased letter after an uncased character starts a word.
std::string py_title(const std::string& s) {
  std::vector<char32_t> cps = utf8::decode(s);
  bool prev_cased = false;
  for (char32_t& c : cps) {
    const bool cased = utf8::is_cased(c);
    if (cased) c = prev_cased ? utf8::to_lower(c) : utf8::to_upper(c);
    prev_cased = cased;
  }
  return utf8::encode(cps);
}

int64_t int_arg(const Value* v, int64_t fallback) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_int()) throw Error(fmt::format("expected an integer, got '{}'", v->type_name()));
  return v->as_int();
}

Value string_method(const std::string& s, const std::string& name, Args& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    check_args(a, 1, {}, name.c_str());
    return strip(s, find_arg(a, 0, "chars"), name != "rstrip", name != "lstrip");
  }
  if (name == "split") {
    check_args(a, 2, {"sep", "maxsplit"}, "split");
    return split(s, find_arg(a, 0, "sep"), int_arg(find_arg(a, 1, "maxsplit"), -1));
  }
  if (name == "startswith" || name == "endswith") {
    check_args(a, 1, {}, name.c_str());
    if (a.pos.empty()) throw Error(fmt::format("{}() takes at least 1 argument", name));
    return affix_match(s, a.pos[0], name == "startswith");
  }
  if (name == "upper") return to_upper(s);
  if (name == "lower") return to_lower(s);
  if (name == "title") return py_title(s);
  if (name == "capitalize") return capitalize(s);
  if (name == "replace") {
    check_args(a, 3, {}, "replace");
    if (a.pos.size() < 2) throw Error("replace() takes at least 2 arguments");
    return replace(s, a.pos[0].str(), a.pos[1].str(), int_arg(find_arg(a, 2, "count"), -1));
  }
  if (name == "find" || name == "count") {
    check_args(a, 1, {}, name.c_str());
    if (a.pos.empty() || !a.pos[0].is_string()) throw Error(fmt::format("{}() needs a str", name));
    const std::string& sub = a.pos[0].as_string();
    if (name == "find") {
      const size_t p = s.find(sub);
      return p == std::string::npos ? Value(-1)
                                    : Value(static_cast<int64_t>(utf8::length(s.substr(0, p))));
    }
    if (sub.empty()) return static_cast<int64_t>(utf8::length(s) + 1);
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return n;
  }
  if (name == "join") {
    check_args(a, 1, {}, "join");
    std::string out;
    const List items = a.pos.empty() ? List{} : iterate(a.pos[0]);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        throw Error(fmt::format("sequence item {}: expected str instance, {} found", i,
                                items[i].type_name()));
      out += (i ? s : "") + items[i].as_string();
    }
    return out;
  }
  if (name == "splitlines") {
    List out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        out.emplace_back(s.substr(start, i - start));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    if (start < s.size()) out.emplace_back(s.substr(start));
    return out;
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    if (s.empty()) return false;
    for (char32_t cp : utf8::decode(s)) {
      const bool ok = name == "isspace"   ? utf8::is_space(cp)
                      : cp >= 0x80        ? name != "isdigit"  // non-ASCII: letters assumed
                      : name == "isdigit" ? std::isdigit(static_cast<int>(cp)) != 0
                      : name == "isalpha" ? std::isalpha(static_cast<int>(cp)) != 0
                                          : std::isalnum(static_cast<int>(cp)) != 0;
      if (!ok) return false;
    }
    return true;
  }
  throw Error(fmt::format("'str' object has no attribute '{}'", name));
}

Value dict_method(const Value& self, const std::string& name, Args& a) {
  const Dict& d = self.as_dict();
  if (name == "items") {
    List out;
    for (const auto& [k, v] : d) out.push_back(Value::tuple({Value(k), v}));
    return out;
  }
  if (name == "keys") return iterate(self);
  if (name == "values") {
    List out;
    for (const auto& [k, v] : d) out.push_back(v);
    return out;
  }
  // get
  check_args(a, 2, {}, "get");
  if (a.pos.empty()) throw Error("get expected at least 1 argument, got 0");
  const Value* v = a.pos[0].is_string() ? dict_find(d, a.pos[0].as_string()) : nullptr;
  return v ? *v : a.pos.size() > 1 ? a.pos[1] : Value(nullptr);
}

bool is_string_method(const std::string& n) {
  static const char* const kNames[] = {"strip",    "lstrip",  "rstrip",  "split",  "startswith",
                                       "endswith", "upper",   "lower",   "title",  "capitalize",
                                       "replace",  "find",    "count",   "join",   "splitlines",
                                       "isdigit",  "isspace", "isalpha", "isalnum"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* k) { return n == k; });
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) throw Error(obj.undefined_hint());
  if (obj.is_dict()) {
    if (name == "items" || name == "keys" || name == "values" || name == "get")
      return Value(Function([obj, name](Args& a) { return dict_method(obj, name, a); }));
    if (const Value* v = dict_find(obj.as_dict(), name)) return *v;
    return Value::undefined(fmt::format("'dict object' has no attribute '{}'", name));
  }
  if (obj.is_namespace()) {
    if (const Value* v = dict_find(obj.as_namespace().attrs, name)) return *v;
  } else if (obj.is_string() && is_string_method(name)) {
    const std::string s = obj.as_string();
    return Value(Function([s, name](Args& a) { return string_method(s, name, a); }));
  }
  return Value::undefined(fmt::format("'{}' object has no attribute '{}'", obj.type_name(), name));
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) throw Error(obj.undefined_hint());
  if (obj.is_dict() || obj.is_namespace()) {
    if (key.is_string()) {
      const Dict& d = obj.is_dict() ? obj.as_dict() : obj.as_namespace().attrs;
      if (const Value* v = dict_find(d, key.as_string())) return *v;
      return get_attr(obj, key.as_string());  // a method, or undefined
    }
    return Value::undefined(
        fmt::format("'{}' object has no attribute {}", obj.type_name(), key.repr()));
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? key.as_bool() : key.as_int();
    if (obj.is_list()) {
      const List& l = obj.as_list();
      if (i < 0) i += static_cast<int64_t>(l.size());
      if (i >= 0 && i < static_cast<int64_t>(l.size())) return l[i];
    } else {
      const std::vector<char32_t> cps = utf8::decode(obj.as_string());
      if (i < 0) i += static_cast<int64_t>(cps.size());
      if (i >= 0 && i < static_cast<int64_t>(cps.size())) return utf8::encode({cps[i]});
    }
    return Value::undefined(
        fmt::format("{} object has no element {}", obj.type_name(), key.repr()));
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(
      fmt::format("'{}' object has no element {}", obj.type_name(), key.repr()));
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) throw Error(obj.undefined_hint());
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int()) throw Error("slice indices must be integers or None");
    return v.as_int();
  };
  const int64_t st = bound(step).value_or(1);
  if (st == 0) throw Error("slice step cannot be zero");
  List items;
  std::vector<char32_t> cps;
  int64_t n;
  if (obj.is_list()) {
    n = static_cast<int64_t>(obj.as_list().size());
  } else if (obj.is_string()) {
    cps = utf8::decode(obj.as_string());
    n = static_cast<int64_t>(cps.size());
  } else {
    throw Error(fmt::format("'{}' object is not subscriptable", obj.type_name()));
  }
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v;
    if (x < 0) x = std::max<int64_t>(x + n, st < 0 ? -1 : 0);
    return std::min<int64_t>(x, st < 0 ? n - 1 : n);
  };
  const int64_t b = adjust(bound(start), st < 0 ? n - 1 : 0);
  const int64_t e = adjust(bound(stop), st < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(i);
  if (obj.is_list()) {
    for (int64_t i : idx) items.push_back(obj.as_list()[i]);
    return items;
  }
  std::string out;
  for (int64_t i : idx) utf8::append(out, cps[i]);
  return out;
}

Value get_path(const Value& obj, const std::string& path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = get_item(cur, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (dot == std::string::npos) return cur;
    if (cur.is_undefined()) return cur;
    start = dot + 1;
  }
}

}  // namespace kiln::chat::jinja
