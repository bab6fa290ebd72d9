// The global functions a chat template can call: Jinja's range/namespace/dict and the ones HF's
// _compile_jinja_template adds (raise_exception, strftime_now).
#include <ctime>
#include <memory>

#include "chat/jinja/builtins.h"
#include "chat/jinja/error.h"

namespace kiln::chat::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Value range(Args& a) {
  if (!a.kw.empty() || a.pos.empty() || a.pos.size() > 3)
    throw Error("range expects 1 to 3 integer arguments");
  for (const Value& v : a.pos)
    if (!v.is_int() && !v.is_bool())
      throw Error(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
  auto get = [&](size_t i) {
    return a.pos[i].is_bool() ? int64_t{a.pos[i].as_bool()} : a.pos[i].as_int();
  };
  const int64_t start = a.pos.size() == 1 ? 0 : get(0);
  const int64_t stop = a.pos.size() == 1 ? get(0) : get(1);
  const int64_t step = a.pos.size() == 3 ? get(2) : 1;
  if (step == 0) throw Error("range() arg 3 must not be zero");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(out.size()) >= kMaxRange)
      throw Error(fmt::format(
          "Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", kMaxRange));
    out.emplace_back(i);
  }
  return out;
}

// dict(mapping, **kw) / namespace(mapping, **kw): the attributes in call order.
Dict collect(Args& a, const char* fn) {
  Dict d;
  auto put = [&](const std::string& k, const Value& v) {
    for (auto& [key, val] : d) {
      if (key == k) {
        val = v;
        return;
      }
    }
    d.emplace_back(k, v);
  };
  if (a.pos.size() > 1) throw Error(fmt::format("{}() takes at most 1 positional argument", fn));
  if (!a.pos.empty()) {
    if (!a.pos[0].is_dict())
      throw Error(fmt::format("{}() positional argument must be a mapping", fn));
    for (const auto& [k, v] : a.pos[0].as_dict()) put(k, v);
  }
  for (const auto& [k, v] : a.kw) put(k, v);
  return d;
}

}  // namespace

Dict make_globals() {
  Dict g;
  g.emplace_back("range", Value(Function(range)));
  g.emplace_back("dict", Value(Function([](Args& a) { return Value(collect(a, "dict")); })));
  g.emplace_back("namespace", Value(Function([](Args& a) {
                   auto ns = std::make_shared<Namespace>();
                   ns->attrs = collect(a, "namespace");
                   for (const auto& [k, v] : ns->attrs)
                     if (!k.empty() && k[0] == '_')
                       throw Error(
                           fmt::format("Chat templates cannot store underscore-prefixed attributes "
                                       "on a namespace, but got '{}'. Please rename the attribute.",
                                       k));
                   return Value(ns);
                 })));
  g.emplace_back("raise_exception", Value(Function([](Args& a) -> Value {
                   // The template's own message, unchanged: the server shows it to the client.
                   throw TemplateError(a.pos.empty() ? std::string() : a.pos[0].str());
                 })));
  g.emplace_back("strftime_now", Value(Function([](Args& a) {
                   if (a.pos.empty() || !a.pos[0].is_string())
                     throw Error("strftime_now expects a format string");
                   const std::time_t now = std::time(nullptr);
                   std::tm tm{};
                   localtime_r(&now, &tm);
                   char buf[256];
                   const size_t n =
                       std::strftime(buf, sizeof(buf), a.pos[0].as_string().c_str(), &tm);
                   return Value(std::string(buf, n));
                 })));
  return g;
}

}  // namespace kiln::chat::jinja
