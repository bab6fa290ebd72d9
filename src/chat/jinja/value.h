// Jinja values with Python semantics, because chat templates are written against Python: dicts keep
// insertion order, `str()` of a list is Python's repr, `1 == 1.0`, `True == 1`, lengths and
// slices count code points. Lists and dicts are immutable (the sandbox forbids mutation), so they
// are shared, not copied; a namespace() is the one mutable value and is shared by reference.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::chat::jinja {

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, like Python's dict

// Arguments of a call, filter, test or method: positional then keyword.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

struct Undefined {
  std::string hint;  // what was looked up, for error messages: "'x' is undefined"
};
struct Namespace {
  Dict attrs;
};
using Function = std::function<Value(Args&)>;

class Value {
 public:
  Value() : v_(Undefined{}) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(List l) : v_(std::make_shared<const List>(std::move(l))) {}
  Value(Dict d) : v_(std::make_shared<const Dict>(std::move(d))) {}
  Value(std::shared_ptr<Namespace> ns) : v_(std::move(ns)) {}
  Value(Function f) : v_(std::make_shared<const Function>(std::move(f))) {}
  // A tuple is a list that prints as (a, b): tuple literals, dict.items(), dictsort.
  static Value tuple(List l) {
    Value v(std::move(l));
    v.tuple_ = true;
    return v;
  }
  static Value undefined(std::string hint) {
    Value v;
    v.v_ = Undefined{std::move(hint)};
    return v;
  }

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<std::nullptr_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const {
    return is_int() || is_float() || is_bool();
  }  // Python: bool is a Number
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<const List>>(v_); }
  bool is_tuple() const { return tuple_; }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<const Dict>>(v_); }
  bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(v_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<const Function>>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }  // exact int only
  double as_double() const;                                 // int, float or bool
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const List& as_list() const { return *std::get<std::shared_ptr<const List>>(v_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<const Dict>>(v_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(v_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<const Function>>(v_); }
  const std::string& undefined_hint() const { return std::get<Undefined>(v_).hint; }

  // Python's type name, for error messages ("str", "int", "dict", ...).
  std::string type_name() const;
  // Python truthiness; undefined is falsy.
  bool truthy() const;
  // Python str(): what {{ x }} prints. Undefined prints as "".
  std::string str() const;
  // Python repr(), used inside str() of lists and dicts.
  std::string repr() const;

 private:
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string,
               std::shared_ptr<const List>, std::shared_ptr<const Dict>, std::shared_ptr<Namespace>,
               std::shared_ptr<const Function>>
      v_;
  bool tuple_ = false;
};

// Dict lookup by key; nullptr when absent.
const Value* dict_find(const Dict& d, const std::string& key);

// Python ==, and < (throws kiln::Error for unorderable types, as Python raises TypeError).
bool equals(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);

// Python's repr(float): shortest round-trip digits, "1.0", "1e+20", "1e-05".
std::string format_float(double d);

// json.dumps(x, ensure_ascii, indent, separators, sort_keys), which HF installs as `tojson`.
// indent < 0: single line. item_sep/key_sep empty: Python's defaults for the indent mode.
struct JsonOptions {
  bool ensure_ascii = false;
  int indent = -1;
  std::string indent_str;  // used when non-empty (json.dumps accepts a string indent)
  std::string item_sep, key_sep;
  bool sort_keys = false;
};
std::string dump_json(const Value& v, const JsonOptions& opts);

// JSON input (messages, tools, extra context) as values. Works for json and ordered_json.
template <class Json>
Value from_json(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value(nullptr);
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return Value(static_cast<int64_t>(j.template get<uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& e : j) l.push_back(from_json(e));
      return Value(std::move(l));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      d.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.emplace_back(it.key(), from_json(it.value()));
      return Value(std::move(d));
    }
    default:
      return Value::undefined("binary JSON value");
  }
}

}  // namespace kiln::chat::jinja
