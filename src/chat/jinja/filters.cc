// Jinja's built-in filters that chat templates use, with jinja2/filters.py's semantics, plus HF's
// `tojson` (json.dumps with ensure_ascii=False and no HTML escaping). Case mapping: utf8.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "chat/jinja/builtins.h"
#include "chat/jinja/utf8.h"
#include "core/check.h"

namespace kiln::chat::jinja {
namespace {

using FilterFn = Value (*)(const Value&, Args&);

bool flag(const Value* v, bool fallback = false) { return v ? v->truthy() : fallback; }

Value length(const Value& v, Args&) {
  if (v.is_string()) return static_cast<int64_t>(utf8::length(v.as_string()));
  if (v.is_list()) return static_cast<int64_t>(v.as_list().size());
  if (v.is_dict()) return static_cast<int64_t>(v.as_dict().size());
  if (v.is_undefined()) return 0;
  throw Error(fmt::format("object of type '{}' has no len()", v.type_name()));
}

Value first(const Value& v, Args&) {
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value last(const Value& v, Args&) {
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value join(const Value& v, Args& a) {
  check_args(a, 2, {"d", "attribute"}, "join");
  const Value* sep = find_arg(a, 0, "d");
  const Value* attr = find_arg(a, 1, "attribute");
  std::string out;
  const List items = iterate(v);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i && sep) out += sep->str();
    out += (attr ? get_path(items[i], attr->str()) : items[i]).str();
  }
  return out;
}

Value default_(const Value& v, Args& a) {
  check_args(a, 2, {"default_value", "boolean"}, "default");
  const Value* d = find_arg(a, 0, "default_value");
  if (v.is_undefined() || (flag(find_arg(a, 1, "boolean")) && !v.truthy()))
    return d ? *d : Value("");
  return v;
}

Value trim(const Value& v, Args& a) {
  Args m{a.pos, {}};
  return get_attr(Value(v.str()), "strip").as_function()(m);
}

Value replace(const Value& v, Args& a) {
  check_args(a, 3, {"old", "new", "count"}, "replace");
  Args m;
  for (size_t i = 0; i < 3; ++i) {
    const Value* x = find_arg(a, i, i == 0 ? "old" : i == 1 ? "new" : "count");
    if (x) m.pos.push_back(*x);
  }
  return get_attr(Value(v.str()), "replace").as_function()(m);
}

// Jinja's title: capitalise each run after whitespace, '-', '(', '{', '[' or '<'.
Value title(const Value& v, Args&) {
  std::vector<char32_t> cps = utf8::decode(v.str());
  bool start = true;
  for (char32_t& c : cps) {
    const bool sep = utf8::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (!sep) c = start ? utf8::to_upper(c) : utf8::to_lower(c);
    start = sep;
  }
  return utf8::encode(cps);
}

Value tojson(const Value& v, Args& a) {
  check_args(a, 4, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson");
  JsonOptions o;
  o.ensure_ascii = flag(find_arg(a, 0, "ensure_ascii"));
  if (const Value* ind = find_arg(a, 1, "indent"); ind && !ind->is_none()) {
    if (ind->is_string()) {
      o.indent_str = ind->as_string();
      o.indent = 0;
    } else {
      o.indent = static_cast<int>(ind->as_double());
    }
  }
  if (const Value* sep = find_arg(a, 2, "separators"); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->as_list().size() != 2)
      throw Error("tojson separators must be a pair");
    o.item_sep = sep->as_list()[0].str();
    o.key_sep = sep->as_list()[1].str();
  }
  o.sort_keys = flag(find_arg(a, 3, "sort_keys"));
  return dump_json(v, o);
}

Value to_int(const Value& v, Args& a) {
  check_args(a, 2, {"default", "base"}, "int");
  const Value* d = find_arg(a, 0, "default");
  const Value fallback = d ? *d : Value(0);
  if (v.is_int()) return v;
  if (v.is_bool()) return static_cast<int64_t>(v.as_bool());
  if (v.is_float())
    return std::isfinite(v.as_double()) ? Value(static_cast<int64_t>(v.as_double())) : fallback;
  if (v.is_string()) {
    std::string s = v.as_string();
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    const Value* base = find_arg(a, 1, "base");
    try {
      size_t used = 0;
      const int64_t i = std::stoll(s, &used, base ? static_cast<int>(base->as_double()) : 10);
      const bool rest_ws = std::all_of(s.begin() + used, s.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c));
      });
      if (rest_ws) return i;
      size_t fused = 0;
      const double f = std::stod(s, &fused);
      if (std::all_of(s.begin() + fused, s.end(),
                      [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
        return static_cast<int64_t>(f);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value to_float(const Value& v, Args& a) {
  check_args(a, 1, {"default"}, "float");
  const Value* d = find_arg(a, 0, "default");
  if (v.is_number()) return v.as_double();
  if (v.is_string()) {
    try {
      size_t used = 0;
      const double f = std::stod(v.as_string(), &used);
      if (std::all_of(v.as_string().begin() + used, v.as_string().end(),
                      [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
        return f;
    } catch (const std::exception&) {
    }
  }
  return d ? *d : Value(0.0);
}

Value round_(const Value& v, Args& a) {
  check_args(a, 2, {"precision", "method"}, "round");
  const Value* p = find_arg(a, 0, "precision");
  const int precision = p ? static_cast<int>(p->as_double()) : 0;
  const Value* m = find_arg(a, 1, "method");
  const std::string method = m ? m->str() : "common";
  if (!v.is_number())
    throw Error(fmt::format("type {} doesn't define __round__ method", v.type_name()));
  if (method == "common") {
    if (!v.is_float())
      return v.is_bool() ? Value(static_cast<int64_t>(v.as_bool())) : v;  // round(int, n)
    char buf[512];  // glibc rounds the exact binary value half-to-even, as Python's round() does
    std::snprintf(buf, sizeof(buf), "%.*f", std::max(precision, 0), v.as_double());
    return std::strtod(buf, nullptr);
  }
  if (method != "ceil" && method != "floor")
    throw Error("method must be 'common', 'ceil' or 'floor'");
  const double scale = std::pow(10.0, precision);
  const double x = v.as_double() * scale;
  return (method == "ceil" ? std::ceil(x) : std::floor(x)) / scale;
}

Value abs_(const Value& v, Args&) {
  if (v.is_int()) return v.as_int() < 0 ? -v.as_int() : v.as_int();
  if (v.is_bool()) return static_cast<int64_t>(v.as_bool());
  if (v.is_float()) return std::fabs(v.as_double());
  throw Error(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value reverse(const Value& v, Args&) {
  if (v.is_string()) {
    std::vector<char32_t> cps = utf8::decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return utf8::encode(cps);
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return items;
}

Value items(const Value& v, Args&) {
  if (v.is_undefined()) return List{};
  if (!v.is_dict())
    throw Error(fmt::format("Can only get item pairs from a mapping, not '{}'", v.type_name()));
  Args none;
  return get_attr(v, "items").as_function()(none);
}

// The sort key of `sort`, `unique`, `dictsort`, `min`, `max`: lower-cased strings unless
// case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  return !case_sensitive && v.is_string() ? Value(to_lower(v.as_string())) : v;
}

Value sort(const Value& v, Args& a) {
  check_args(a, 3, {"reverse", "case_sensitive", "attribute"}, "sort");
  const bool rev = flag(find_arg(a, 0, "reverse"));
  const bool cs = flag(find_arg(a, 1, "case_sensitive"));
  const Value* attr = find_arg(a, 2, "attribute");
  List out = iterate(v);
  auto key = [&](const Value& x) { return sort_key(attr ? get_path(x, attr->str()) : x, cs); };
  std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
    return rev ? less(key(y), key(x)) : less(key(x), key(y));
  });
  return out;
}

Value dictsort(const Value& v, Args& a) {
  check_args(a, 3, {"case_sensitive", "by", "reverse"}, "dictsort");
  const bool cs = flag(find_arg(a, 0, "case_sensitive"));
  const Value* by = find_arg(a, 1, "by");
  const int pos = by && by->str() == "value" ? 1 : 0;
  if (by && pos == 0 && by->str() != "key")
    throw Error("You can only sort by either 'key' or 'value'");
  const bool rev = flag(find_arg(a, 2, "reverse"));
  Args none;
  List out = items(v, none).as_list();
  std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(x.as_list()[pos], cs), ky = sort_key(y.as_list()[pos], cs);
    return rev ? less(ky, kx) : less(kx, ky);
  });
  return out;
}

Value unique(const Value& v, Args& a) {
  check_args(a, 2, {"case_sensitive", "attribute"}, "unique");
  const bool cs = flag(find_arg(a, 0, "case_sensitive"));
  const Value* attr = find_arg(a, 1, "attribute");
  List out, seen;
  for (const Value& x : iterate(v)) {
    const Value k = sort_key(attr ? get_path(x, attr->str()) : x, cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) {
      seen.push_back(k);
      out.push_back(x);
    }
  }
  return out;
}

Value min_max(const Value& v, Args& a, bool want_max) {
  check_args(a, 2, {"case_sensitive", "attribute"}, want_max ? "max" : "min");
  const bool cs = flag(find_arg(a, 0, "case_sensitive"));
  const Value* attr = find_arg(a, 1, "attribute");
  const List all = iterate(v);
  if (all.empty()) return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
  auto key = [&](const Value& x) { return sort_key(attr ? get_path(x, attr->str()) : x, cs); };
  const Value* best = &all[0];
  for (const Value& x : all)
    if (want_max ? less(key(*best), key(x)) : less(key(x), key(*best))) best = &x;
  return *best;
}

Value sum(const Value& v, Args& a) {
  check_args(a, 2, {"attribute", "start"}, "sum");
  const Value* attr = find_arg(a, 0, "attribute");
  const Value* start = find_arg(a, 1, "start");
  Value total = start ? *start : Value(0);
  for (const Value& x : iterate(v)) {
    const Value y = attr ? get_path(x, attr->str()) : x;
    if (!total.is_number() || !y.is_number())
      throw Error(fmt::format("unsupported operand type(s) for +: '{}' and '{}'", total.type_name(),
                              y.type_name()));
    total =
        total.is_float() || y.is_float()
            ? Value(total.as_double() + y.as_double())
            : Value(static_cast<int64_t>(total.as_double()) + static_cast<int64_t>(y.as_double()));
  }
  return total;
}

Value map(const Value& v, Args& a) {
  List out;
  if (const Value* attr = find_arg(a, a.pos.size() + 1, "attribute"); attr && a.pos.empty()) {
    const Value* d = find_arg(a, a.pos.size() + 1, "default");
    for (const Value& x : iterate(v)) {
      Value y = get_path(x, attr->str());
      out.push_back(y.is_undefined() && d ? *d : y);
    }
    return out;
  }
  if (a.pos.empty()) throw Error("map requires a filter argument");
  const std::string name = a.pos[0].str();
  if (!has_filter(name)) throw Error(fmt::format("no filter named '{}'", name));
  Args rest{std::vector<Value>(a.pos.begin() + 1, a.pos.end()), a.kw};
  for (const Value& x : iterate(v)) {
    Args copy = rest;
    out.push_back(apply_filter(name, x, copy));
  }
  return out;
}

// select / reject / selectattr / rejectattr.
Value select(const Value& v, Args& a, bool by_attr, bool keep) {
  size_t k = 0;
  std::string attr;
  if (by_attr) {
    if (a.pos.empty()) throw Error("selectattr/rejectattr need an attribute name");
    attr = a.pos[k++].str();
  }
  const bool has_test_name = a.pos.size() > k;
  const std::string test = has_test_name ? a.pos[k++].str() : "";
  if (has_test_name && !has_test(test)) throw Error(fmt::format("no test named '{}'", test));
  Args rest{std::vector<Value>(a.pos.begin() + k, a.pos.end()), a.kw};
  List out;
  for (const Value& x : iterate(v)) {
    const Value y = by_attr ? get_path(x, attr) : x;
    Args copy = rest;
    const bool ok = has_test_name ? apply_test(test, y, copy) : y.truthy();
    if (ok == keep) out.push_back(x);
  }
  return out;
}

Value indent(const Value& v, Args& a) {
  check_args(a, 3, {"width", "first", "blank"}, "indent");
  const Value* w = find_arg(a, 0, "width");
  const std::string pad = w && w->is_string()
                              ? w->as_string()
                              : std::string(w ? static_cast<size_t>(w->as_double()) : 4, ' ');
  const bool first_line = flag(find_arg(a, 1, "first"));
  const bool blank = flag(find_arg(a, 2, "blank"));
  std::vector<std::string> lines;  // str.splitlines() of s + "\n"
  const std::string s = v.str() + "\n";
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      lines.push_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  std::string out = lines[0];
  for (size_t i = 1; i < lines.size(); ++i)
    out += "\n" + (blank || !lines[i].empty() ? pad : "") + lines[i];
  return first_line ? pad + out : out;
}

Value escape(const Value& v, Args&) {
  std::string out;
  for (char c : v.str()) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> kFilters = {
      {"length", length},
      {"count", length},
      {"first", first},
      {"last", last},
      {"join", join},
      {"default", default_},
      {"d", default_},
      {"trim", trim},
      {"replace", replace},
      {"capitalize", [](const Value& v, Args&) { return Value(capitalize(v.str())); }},
      {"title", title},
      {"upper", [](const Value& v, Args&) { return Value(to_upper(v.str())); }},
      {"lower", [](const Value& v, Args&) { return Value(to_lower(v.str())); }},
      {"string", [](const Value& v, Args&) { return Value(v.str()); }},
      {"safe", [](const Value& v, Args&) { return v; }},
      {"list", [](const Value& v, Args&) { return Value(iterate(v)); }},
      {"tojson", tojson},
      {"int", to_int},
      {"float", to_float},
      {"round", round_},
      {"abs", abs_},
      {"reverse", reverse},
      {"items", items},
      {"sort", sort},
      {"dictsort", dictsort},
      {"unique", unique},
      {"min", [](const Value& v, Args& a) { return min_max(v, a, false); }},
      {"max", [](const Value& v, Args& a) { return min_max(v, a, true); }},
      {"sum", sum},
      {"map", map},
      {"select", [](const Value& v, Args& a) { return select(v, a, false, true); }},
      {"reject", [](const Value& v, Args& a) { return select(v, a, false, false); }},
      {"selectattr", [](const Value& v, Args& a) { return select(v, a, true, true); }},
      {"rejectattr", [](const Value& v, Args& a) { return select(v, a, true, false); }},
      {"indent", indent},
      {"escape", escape},
      {"e", escape},
      {"attr",
       [](const Value& v, Args& a) { return get_attr(v, a.pos.empty() ? "" : a.pos[0].str()); }},
  };
  return kFilters;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) != 0; }

Value apply_filter(const std::string& name, const Value& value, Args& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) throw Error(fmt::format("no filter named '{}'", name));
  return it->second(value, args);
}

}  // namespace kiln::chat::jinja
