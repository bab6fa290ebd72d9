// Jinja's tests (`x is defined`, `x is divisibleby 3`), with jinja2/tests.py's Python meanings:
// a bool is a number but not an integer, a str or dict is a sequence, undefined is iterable.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "chat/jinja/builtins.h"
#include "core/check.h"

namespace kiln::chat::jinja {
namespace {

using TestFn = bool (*)(const Value&, Args&);

const Value& arg0(const Args& a, const char* test) {
  if (a.pos.empty()) throw Error(fmt::format("test '{}' needs an argument", test));
  return a.pos[0];
}

double modulo(const Value& v, double d) {
  if (!v.is_number())
    throw Error(fmt::format("unsupported operand type for %: '{}'", v.type_name()));
  return std::fmod(v.as_double(), d);
}

bool has_lower(const Value& v, bool upper) {
  if (!v.is_string()) return false;
  bool cased = false;
  for (unsigned char c : v.as_string()) {
    if (std::isalpha(c)) {
      if (upper ? std::islower(c) : std::isupper(c)) return false;
      cased = true;
    }
  }
  return cased;
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> kTests = {
      {"defined", [](const Value& v, Args&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, Args&) { return v.is_undefined(); }},
      {"none", [](const Value& v, Args&) { return v.is_none(); }},
      {"boolean", [](const Value& v, Args&) { return v.is_bool(); }},
      {"true", [](const Value& v, Args&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](const Value& v, Args&) { return v.is_bool() && !v.as_bool(); }},
      {"integer", [](const Value& v, Args&) { return v.is_int(); }},
      {"float", [](const Value& v, Args&) { return v.is_float(); }},
      {"number", [](const Value& v, Args&) { return v.is_number(); }},
      {"string", [](const Value& v, Args&) { return v.is_string(); }},
      {"mapping", [](const Value& v, Args&) { return v.is_dict(); }},
      {"sequence",
       [](const Value& v, Args&) {
         return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
       }},
      {"iterable",
       [](const Value& v, Args&) {
         return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
       }},
      {"callable", [](const Value& v, Args&) { return v.is_callable(); }},
      {"even", [](const Value& v, Args&) { return modulo(v, 2) == 0; }},
      {"odd", [](const Value& v, Args&) { return std::abs(modulo(v, 2)) == 1; }},
      {"divisibleby",
       [](const Value& v, Args& a) { return modulo(v, arg0(a, "divisibleby").as_double()) == 0; }},
      {"lower", [](const Value& v, Args&) { return has_lower(v, false); }},
      {"upper", [](const Value& v, Args&) { return has_lower(v, true); }},
      {"in", [](const Value& v, Args& a) { return contains(arg0(a, "in"), v); }},
      {"eq", [](const Value& v, Args& a) { return equals(v, arg0(a, "eq")); }},
      {"ne", [](const Value& v, Args& a) { return !equals(v, arg0(a, "ne")); }},
      {"lt", [](const Value& v, Args& a) { return less(v, arg0(a, "lt")); }},
      {"gt", [](const Value& v, Args& a) { return less(arg0(a, "gt"), v); }},
      {"le", [](const Value& v, Args& a) { return !less(arg0(a, "le"), v); }},
      {"ge", [](const Value& v, Args& a) { return !less(v, arg0(a, "ge")); }},
      {"sameas",
       [](const Value& v, Args& a) {
         const Value& o = arg0(a, "sameas");
         if (v.is_none() || o.is_none() || v.is_bool() || o.is_bool())
           return v.is_none() ? o.is_none()
                              : o.is_bool() && v.is_bool() && v.as_bool() == o.as_bool();
         return equals(v, o);
       }},
      {"filter", [](const Value& v, Args&) { return v.is_string() && has_filter(v.as_string()); }},
      {"test", [](const Value& v, Args&) { return v.is_string() && has_test(v.as_string()); }},
  };
  return kTests;
}

const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> kAliases = {
      {"equalto", "eq"}, {"==", "eq"},          {"!=", "ne"}, {"<", "lt"},  {"lessthan", "lt"},
      {">", "gt"},       {"greaterthan", "gt"}, {"<=", "le"}, {">=", "ge"},
  };
  return kAliases;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(name) || aliases().count(name); }

bool apply_test(const std::string& name, const Value& value, Args& args) {
  const auto alias = aliases().find(name);
  const auto it = tests().find(alias != aliases().end() ? alias->second : name);
  if (it == tests().end()) throw Error(fmt::format("no test named '{}'", name));
  return it->second(value, args);
}

}  // namespace kiln::chat::jinja
