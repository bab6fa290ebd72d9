// The parsed template: expressions are one tagged node type (the evaluator switches on `kind`),
// statements another. Every node keeps its template line for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/value.h"

namespace kiln::chat::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kList,       // args: items; name "tuple" for (a, b)
    kDict,       // args: key0, value0, key1, value1, ...
    kGetAttr,    // args[0].name
    kGetItem,    // args[0][args[1]]
    kSlice,      // args[0][args[1]:args[2]:args[3]]; null entries are omitted bounds
    kCall,       // args[0](args[1:], kwargs)
    kFilter,     // args[0] | name(args[1:], kwargs)
    kTest,       // args[0] is name(args[1:]); negated: `is not`
    kUnary,      // name in {"-", "+", "not"}: args[0]
    kBinary,     // args[0] name args[1]; name in {+ - * / // % ** ~ and or in}
    kCompare,    // args[0] ops[0] args[1] ops[1] args[2] ... (Python chaining)
    kCondition,  // args[1] if args[0] else args[2] (args[2] may be null: undefined)
  };
  Kind kind;
  int line;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // conds[i] -> bodies[i]; else_body
    kFor,       // for targets in expr [if cond]: bodies[0]; else_body
    kSet,       // set targets = expr, or set targets[0].attr = expr (namespace)
    kSetBlock,  // set targets[0] %}bodies[0]{% endset (expr: optional filter chain on a
                // placeholder kName "")
    kMacro,     // macro name(params): bodies[0]
    kBreak,
    kContinue,
    kFilterBlock  // {% filter f %}bodies[0]{% endfilter %} (expr: filter chain on placeholder)
  };
  Kind kind;
  int line;
  std::string text;
  ExprPtr expr;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr;  // kSet on a namespace attribute
  std::string name;  // kMacro
  std::vector<MacroParam> params;
};

}  // namespace kiln::chat::jinja
