#include "chat/jinja/eval.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_map>

#include "chat/jinja/builtins.h"
#include "chat/jinja/error.h"

namespace kiln::chat::jinja {
namespace {

// A variable scope. Jinja gives each for-loop iteration and each macro call a fresh scope whose
// assignments vanish with it (hence namespace()); `if` blocks share their parent's.
struct Frame {
  std::unordered_map<std::string, Value> vars;
  Frame* parent = nullptr;

  const Value* find(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent) {
      const auto it = f->vars.find(name);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void undefined_error(const Value& v) { throw Error(v.undefined_hint()); }

int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  throw Error(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(),
                          b.type_name()));
}

constexpr size_t kMaxRepeatBytes = size_t{1} << 28;

Value repeat(const Value& seq, int64_t n) {
  const size_t unit =
      seq.is_string() ? seq.as_string().size() : seq.as_list().size() * sizeof(Value);
  if (n > 0 && unit > 0 && static_cast<size_t>(n) > kMaxRepeatBytes / unit)
    throw Error("repetition result too large");
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return out;
  }
  List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.as_list().begin(), seq.as_list().end());
  return out;
}

// Python's arithmetic: int op int stays int (except /), bool counts as int, mixed goes float.
Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) return a.as_string() + b.as_string();
    if (a.is_list() && b.is_list()) {
      List out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return out;
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, int_of(b));
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, int_of(a));
  }
  if (!a.is_number() || !b.is_number()) bad_operands(op, a, b);
  const bool ints = !a.is_float() && !b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) throw Error("division by zero");
    return a.as_double() / b.as_double();
  }
  if (ints) {
    const int64_t x = int_of(a), y = int_of(b);
    if (op == "+") return x + y;
    if (op == "-") return x - y;
    if (op == "*") return x * y;
    if (op == "**" && y >= 0) {
      uint64_t r = 1, base = static_cast<uint64_t>(x);  // wraps on overflow (Python has bigints)
      for (uint64_t e = static_cast<uint64_t>(y); e; e >>= 1, base *= base)
        if (e & 1) r *= base;
      return static_cast<int64_t>(r);
    }
    if (op == "//" || op == "%") {
      if (y == 0) throw Error("integer division or modulo by zero");
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return op == "//" ? q : r;
    }
  }
  const double x = a.as_double(), y = b.as_double();
  if (op == "+") return x + y;
  if (op == "-") return x - y;
  if (op == "*") return x * y;
  if (op == "**") return std::pow(x, y);
  if (y == 0) throw Error("float division by zero");
  const double r = std::fmod(x, y);
  const double m = r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
  if (op == "%") return m;
  return std::floor((x - m) / y + 0.5);  // op == "//"; (x - m) / y is integral up to rounding
}

bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "not in") return !contains(b, a);
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (op == "<") return less(a, b);
  if (op == ">") return less(b, a);
  if (op == "<=") return !less(b, a);
  return !less(a, b);  // ">="
}

class Evaluator {
 public:
  static constexpr int kMaxCallDepth = 200;

  Flow exec(const Body& body, Frame& frame, std::string& out) {
    for (const auto& node : body) {
      const Flow flow = exec(*node, frame, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Value eval(const Expr& e, Frame& frame) {
    try {
      return eval_unchecked(e, frame);
    } catch (const TemplateError&) {
      throw;
    } catch (const Error& err) {
      fail_at(e.line, err.what());
    }
  }

 private:
  Flow exec(const Node& n, Frame& frame, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText:
        out += n.text;
        return Flow::kNormal;
      case Node::Kind::kOutput:
        out += eval(*n.expr, frame).str();
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (size_t i = 0; i < n.conds.size(); ++i)
          if (eval(*n.conds[i], frame).truthy()) return exec(n.bodies[i], frame, out);
        return exec(n.else_body, frame, out);
      case Node::Kind::kFor:
        return exec_for(n, frame, out);
      case Node::Kind::kSet:
        exec_set(n, frame);
        return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string captured;
        exec(n.bodies[0], frame, captured);
        frame.vars[n.targets[0]] =
            n.expr ? apply_chain(*n.expr, Value(captured), frame) : Value(captured);
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        std::string captured;
        exec(n.bodies[0], frame, captured);
        out += apply_chain(*n.expr, Value(captured), frame).str();
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        frame.vars[n.name] = make_macro(n, frame);
        return Flow::kNormal;
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  // Binds for-loop / set targets; several targets unpack a sequence.
  static void bind(const std::vector<std::string>& targets, const Value& v, Frame& frame,
                   int line) {
    if (targets.size() == 1) {
      frame.vars[targets[0]] = v;
      return;
    }
    const List items = iterate(v);
    if (items.size() != targets.size())
      fail_at(line,
              fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    for (size_t i = 0; i < items.size(); ++i) frame.vars[targets[i]] = items[i];
  }

  Flow exec_for(const Node& n, Frame& frame, std::string& out) {
    const Value seq = eval(*n.expr, frame);
    List items;
    try {
      items = iterate(seq);
    } catch (const TemplateError&) {
      throw;
    } catch (const Error& err) {
      fail_at(n.line, err.what());
    }
    if (!n.conds.empty()) {  // `for x in xs if cond`: filtered before loop.length is known
      List kept;
      for (const Value& item : items) {
        Frame scope{{}, &frame};
        bind(n.targets, item, scope, n.line);
        if (eval(*n.conds[0], scope).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      Frame scope{{}, &frame};
      bind(n.targets, items[i], scope, n.line);
      scope.vars["loop"] = Value(Dict{
          {"index", Value(i + 1)},
          {"index0", Value(i)},
          {"revindex", Value(len - i)},
          {"revindex0", Value(len - i - 1)},
          {"first", Value(i == 0)},
          {"last", Value(i == len - 1)},
          {"length", Value(len)},
          {"depth", Value(1)},
          {"depth0", Value(0)},
          {"previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item")},
          {"nextitem", i + 1 < len ? items[i + 1] : Value::undefined("there is no next item")},
          {"cycle", Value(Function([i](Args& a) -> Value {
             if (a.pos.empty()) throw Error("no items for cycling given");
             return a.pos[i % static_cast<int64_t>(a.pos.size())];
           }))},
      });
      if (exec(n.bodies[0], scope, out) == Flow::kBreak) break;
    }
    if (len == 0) return exec(n.else_body, frame, out);
    return Flow::kNormal;
  }

  void exec_set(const Node& n, Frame& frame) {
    const Value v = eval(*n.expr, frame);
    if (n.attr.empty()) {
      bind(n.targets, v, frame, n.line);
      return;
    }
    const Value* ns = frame.find(n.targets[0]);
    if (!ns || !ns->is_namespace())
      fail_at(n.line, "cannot assign attribute on non-namespace object");
    if (n.attr[0] == '_')
      fail_at(n.line, fmt::format("Chat templates cannot store underscore-prefixed attributes on a "
                                  "namespace, but got '{}'. Please rename the attribute.",
                                  n.attr));
    Dict& attrs = ns->as_namespace().attrs;
    for (auto& [k, val] : attrs) {
      if (k == n.attr) {
        val = v;
        return;
      }
    }
    attrs.emplace_back(n.attr, v);
  }

  // A macro is a function over a fresh scope. It sees the template's top-level variables live
  // (as Jinja does: they may be set after the macro) and the enclosing loop scopes as they were
  // when it was defined, copied so that the macro cannot outlive what it reads.
  Value make_macro(const Node& n, Frame& frame) {
    Frame* top = &frame;
    auto captured = std::make_shared<std::unordered_map<std::string, Value>>();
    for (; top->parent && top->parent->parent; top = top->parent)
      for (const auto& [k, v] : top->vars) captured->emplace(k, v);  // inner scopes first: they win
    return Value(Function([this, &n, top, captured](Args& a) -> Value {
      if (a.pos.size() > n.params.size())
        throw Error(
            fmt::format("macro '{}' takes not more than {} argument(s)", n.name, n.params.size()));
      if (depth_ >= kMaxCallDepth) throw Error("maximum macro recursion depth exceeded");
      Frame closure{*captured, top};
      Frame scope{{}, &closure};
      for (size_t i = 0; i < n.params.size(); ++i) {
        const MacroParam& p = n.params[i];
        const Value* kw = nullptr;
        for (const auto& [k, v] : a.kw)
          if (k == p.name) kw = &v;
        scope.vars[p.name] = i < a.pos.size() ? a.pos[i]
                             : kw             ? *kw
                             : p.default_value
                                 ? eval(*p.default_value, scope)
                                 : Value::undefined(fmt::format("'{}' is undefined", p.name));
      }
      for (const auto& [k, v] : a.kw) {
        if (std::none_of(n.params.begin(), n.params.end(),
                         [&](const MacroParam& p) { return p.name == k; }))
          throw Error(fmt::format("macro '{}' takes no keyword argument '{}'", n.name, k));
      }
      std::string out;
      ++depth_;
      try {
        exec(n.bodies[0], scope, out);
      } catch (...) {
        --depth_;
        throw;
      }
      --depth_;
      return out;
    }));
  }

  // The filter chain of `{% set x | f %}` / `{% filter f %}` applied to the captured text.
  Value apply_chain(const Expr& e, const Value& input, Frame& frame) {
    if (e.kind != Expr::Kind::kFilter) return input;
    const Value v = apply_chain(*e.args[0], input, frame);
    Args args = eval_args(e, frame);
    try {
      return apply_filter(e.name, v, args);
    } catch (const TemplateError&) {
      throw;
    } catch (const Error& err) {
      fail_at(e.line, err.what());
    }
  }

  Args eval_args(const Expr& e, Frame& frame) {
    Args a;
    for (size_t i = 1; i < e.args.size(); ++i) a.pos.push_back(eval(*e.args[i], frame));
    for (const auto& [k, v] : e.kwargs) a.kw.emplace_back(k, eval(*v, frame));
    return a;
  }

  Value eval_unchecked(const Expr& e, Frame& frame) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName: {
        const Value* v = frame.find(e.name);
        return v ? *v : Value::undefined(fmt::format("'{}' is undefined", e.name));
      }
      case Expr::Kind::kList: {
        List l;
        for (const auto& x : e.args) l.push_back(eval(*x, frame));
        return e.name == "tuple" ? Value::tuple(std::move(l)) : Value(std::move(l));
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i], frame);
          if (!k.is_string()) throw Error("dict keys must be strings");
          const Value v = eval(*e.args[i + 1], frame);
          bool replaced = false;
          for (auto& [key, val] : d) {
            if (key == k.as_string()) {
              val = v;
              replaced = true;
            }
          }
          if (!replaced) d.emplace_back(k.as_string(), v);
        }
        return d;
      }
      case Expr::Kind::kGetAttr:
        return get_attr(eval(*e.args[0], frame), e.name);
      case Expr::Kind::kGetItem: {
        const Value obj = eval(*e.args[0], frame);
        return get_item(obj, eval(*e.args[1], frame));
      }
      case Expr::Kind::kSlice: {
        const Value obj = eval(*e.args[0], frame);
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.args[k + 1]) parts[k] = eval(*e.args[k + 1], frame);
        return slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::kCall: {
        const Value callee = eval(*e.args[0], frame);
        if (callee.is_undefined()) undefined_error(callee);
        if (!callee.is_callable())
          throw Error(fmt::format("'{}' object is not callable", callee.type_name()));
        Args a = eval_args(e, frame);
        return callee.as_function()(a);
      }
      case Expr::Kind::kFilter: {
        const Value v = eval(*e.args[0], frame);
        Args a = eval_args(e, frame);
        return apply_filter(e.name, v, a);
      }
      case Expr::Kind::kTest: {
        const Value v = eval(*e.args[0], frame);
        Args a = eval_args(e, frame);
        return apply_test(e.name, v, a) != e.negated;
      }
      case Expr::Kind::kUnary: {
        const Value v = eval(*e.args[0], frame);
        if (e.name == "not") return !v.truthy();
        if (v.is_undefined()) undefined_error(v);
        if (!v.is_number())
          throw Error(fmt::format("bad operand type for unary {}: '{}'", e.name, v.type_name()));
        if (e.name == "+") return v.is_float() ? v : Value(int_of(v));
        return v.is_float() ? Value(-v.as_double()) : Value(-int_of(v));
      }
      case Expr::Kind::kBinary: {
        const Value a = eval(*e.args[0], frame);
        if (e.name == "and") return a.truthy() ? eval(*e.args[1], frame) : a;
        if (e.name == "or") return a.truthy() ? a : eval(*e.args[1], frame);
        const Value b = eval(*e.args[1], frame);
        if (e.name == "~") return a.str() + b.str();
        return arithmetic(e.name, a, b);
      }
      case Expr::Kind::kCompare: {
        Value left = eval(*e.args[0], frame);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i + 1], frame);
          if (!compare(e.ops[i], left, right)) return false;
          left = std::move(right);
        }
        return true;
      }
      case Expr::Kind::kCondition:
        if (eval(*e.args[0], frame).truthy()) return eval(*e.args[1], frame);
        return e.args[2] ? eval(*e.args[2], frame) : Value::undefined("the condition was false");
    }
    return Value();
  }

  int depth_ = 0;  // nested macro calls
};

}  // namespace

std::string render(const Body& body, const Dict& context) {
  Frame globals;
  for (auto& [k, v] : make_globals()) globals.vars[k] = v;
  Frame top{{}, &globals};
  for (const auto& [k, v] : context) top.vars[k] = v;
  std::string out;
  Evaluator().exec(body, top, out);
  return out;
}

}  // namespace kiln::chat::jinja
