#include "chat/jinja/parser.h"

#include <algorithm>

#include "chat/jinja/builtins.h"
#include "chat/jinja/error.h"

namespace kiln::chat::jinja {
namespace {

using K = Token::Kind;

ExprPtr make(Expr::Kind kind, int line, std::string name = {}) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  e->name = std::move(name);
  return e;
}

ExprPtr literal(Value v, int line) {
  auto e = make(Expr::Kind::kLiteral, line);
  e->value = std::move(v);
  return e;
}

std::unique_ptr<Node> make_node(Node::Kind kind, int line) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->line = line;
  return n;
}

// Recursive descent with Jinja's precedence (jinja2/parser.py): conditional < or < and < not <
// comparisons < + - < ~ < * / // % < ** < unary - + < postfix (. [] ()) and filters / tests.
class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  Body parse_template() {
    std::string end;
    return parse_body({}, &end, 1);
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool is_op(const char* op) const { return cur().kind == K::kOp && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == K::kName && cur().text == name; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++i_;
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    ++i_;
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case K::kVarEnd:
        return "'}}'";
      case K::kBlockEnd:
        return "'%}'";
      case K::kEof:
        return "end of template";
      case K::kString:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }
  [[noreturn]] void unexpected(const std::string& expected) const {
    fail_at(cur().line, fmt::format("expected {}, got {}", expected, describe(cur())));
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) unexpected(fmt::format("'{}'", op));
  }
  std::string expect_name() {
    if (cur().kind != K::kName) unexpected("a name");
    return next().text;
  }
  void expect_block_end() {
    if (cur().kind != K::kBlockEnd) unexpected("'%}'");
    ++i_;
  }

  // Statements until one of end_tags opens a block; *found gets that tag (consumed, not its '%}').
  Body parse_body(const std::vector<std::string>& end_tags, std::string* found, int open_line) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == K::kEof) {
        if (end_tags.empty()) return body;
        fail_at(open_line, fmt::format("unexpected end of template: block opened here was never "
                                       "closed (expected '{}')",
                                       end_tags.back()));
      }
      if (t.kind == K::kText) {
        auto n = make_node(Node::Kind::kText, t.line);
        n->text = t.text;
        body.push_back(std::move(n));
        ++i_;
      } else if (t.kind == K::kVarBegin) {
        ++i_;
        auto n = make_node(Node::Kind::kOutput, t.line);
        n->expr = parse_tuple();
        if (cur().kind != K::kVarEnd) unexpected("'}}'");
        ++i_;
        body.push_back(std::move(n));
      } else if (t.kind == K::kBlockBegin) {
        ++i_;
        if (cur().kind != K::kName) unexpected("a tag name");
        const std::string& tag = cur().text;
        if (std::find(end_tags.begin(), end_tags.end(), tag) != end_tags.end()) {
          *found = tag;
          ++i_;
          return body;
        }
        body.push_back(parse_statement());
      } else {
        unexpected("text or a tag");
      }
    }
  }

  std::unique_ptr<Node> parse_statement() {
    const Token tag = next();
    const int line = tag.line;
    const std::string& name = tag.text;
    std::string end;
    if (name == "if") {
      auto n = make_node(Node::Kind::kIf, line);
      n->conds.push_back(parse_expression());
      expect_block_end();
      n->bodies.push_back(parse_body({"elif", "else", "endif"}, &end, line));
      while (end == "elif") {
        n->conds.push_back(parse_expression());
        expect_block_end();
        n->bodies.push_back(parse_body({"elif", "else", "endif"}, &end, line));
      }
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endif"}, &end, line);
      }
      expect_block_end();
      return n;
    }
    if (name == "for") {
      auto n = make_node(Node::Kind::kFor, line);
      const bool paren = accept_op("(");
      do {
        n->targets.push_back(expect_name());
      } while (accept_op(","));
      if (paren) expect_op(")");
      if (!accept_name("in")) unexpected("'in'");
      n->expr = parse_tuple(/*with_condexpr=*/false);
      if (accept_name("if")) n->conds.push_back(parse_expression());
      if (is_name("recursive")) fail_at(line, "recursive for loops are not supported");
      expect_block_end();
      ++loop_depth_;
      n->bodies.push_back(parse_body({"else", "endfor"}, &end, line));
      --loop_depth_;
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"}, &end, line);
      }
      expect_block_end();
      return n;
    }
    if (name == "set") {
      auto n = make_node(Node::Kind::kSet, line);
      n->targets.push_back(expect_name());
      if (accept_op(".")) {
        n->attr = expect_name();
      } else {
        while (accept_op(",")) n->targets.push_back(expect_name());
      }
      if (accept_op("=")) {
        n->expr = parse_tuple();
        expect_block_end();
        return n;
      }
      if (n->targets.size() != 1 || !n->attr.empty()) unexpected("'='");
      n->kind = Node::Kind::kSetBlock;
      if (is_op("|")) n->expr = parse_filter_chain(make(Expr::Kind::kName, line));
      expect_block_end();
      n->bodies.push_back(parse_body({"endset"}, &end, line));
      expect_block_end();
      return n;
    }
    if (name == "macro") {
      auto n = make_node(Node::Kind::kMacro, line);
      n->name = expect_name();
      expect_op("(");
      while (!accept_op(")")) {
        MacroParam p{expect_name(), nullptr};
        if (accept_op("=")) p.default_value = parse_expression();
        n->params.push_back(std::move(p));
        if (!is_op(")")) expect_op(",");
      }
      expect_block_end();
      n->bodies.push_back(parse_body({"endmacro"}, &end, line));
      expect_block_end();
      return n;
    }
    if (name == "filter") {  // `{% filter f(args) | g %}`: the chain starts without a '|'
      auto n = make_node(Node::Kind::kFilterBlock, line);
      n->expr = parse_filter_chain(parse_filter(make(Expr::Kind::kName, line), line));
      expect_block_end();
      n->bodies.push_back(parse_body({"endfilter"}, &end, line));
      expect_block_end();
      return n;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail_at(line, fmt::format("'{}' outside of a for loop", name));
      auto n = make_node(name == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line);
      expect_block_end();
      return n;
    }
    if (name == "generation") {  // HF's AssistantTracker block: renders its body unchanged
      auto n = make_node(Node::Kind::kIf, line);
      n->conds.push_back(literal(Value(true), line));
      expect_block_end();
      n->bodies.push_back(parse_body({"endgeneration"}, &end, line));
      expect_block_end();
      return n;
    }
    static const char* const kUnsupported[] = {"call",    "include", "import", "from",
                                               "extends", "block",   "with",   "do"};
    for (const char* u : kUnsupported)
      if (name == u) fail_at(line, fmt::format("unsupported tag '{}'", name));
    fail_at(line, fmt::format("unknown tag '{}'", name));
  }

  // Expressions.

  ExprPtr parse_tuple(bool with_condexpr = true) {
    const int line = cur().line;
    ExprPtr first = with_condexpr ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    auto list = make(Expr::Kind::kList, line, "tuple");
    list->args.push_back(std::move(first));
    while (accept_op(",")) {
      if (cur().kind == K::kVarEnd || cur().kind == K::kBlockEnd || is_name("if")) break;
      list->args.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    return list;
  }

  ExprPtr parse_expression() {
    DepthGuard guard(*this);
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      const int line = next().line;
      auto cond = make(Expr::Kind::kCondition, line);
      cond->args.push_back(parse_or());
      cond->args.push_back(std::move(expr));
      cond->args.push_back(accept_name("else") ? parse_expression() : nullptr);
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
    auto e = make(Expr::Kind::kBinary, line, op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      left = binary("or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      left = binary("and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (is_name("not")) {
      auto e = make(Expr::Kind::kUnary, next().line, "not");
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = cur().line;
    ExprPtr first = parse_math1();
    auto cmp = make(Expr::Kind::kCompare, line);
    while (true) {
      if (cur().kind == K::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        cmp->ops.push_back(next().text);
      } else if (is_name("in")) {
        ++i_;
        cmp->ops.push_back("in");
      } else if (is_name("not") && peek().kind == K::kName && peek().text == "in") {
        i_ += 2;
        cmp->ops.push_back("not in");
      } else {
        break;
      }
      cmp->args.push_back(parse_math1());
    }
    if (cmp->ops.empty()) return first;
    cmp->args.insert(cmp->args.begin(), std::move(first));
    return cmp;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& op = next();
      left = binary(op.text, std::move(left), parse_concat(), op.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const int line = next().line;
      left = binary("~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& op = next();
      left = binary(op.text, std::move(left), parse_pow(), op.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary();
    while (is_op("**")) {
      const int line = next().line;
      left = binary("**", std::move(left), parse_unary(), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& op = next();
      node = make(Expr::Kind::kUnary, op.line, op.text);
      node->args.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    return with_filter ? parse_filter_expr(std::move(node)) : std::move(node);
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const int line = t.line;
    switch (t.kind) {
      case K::kName: {
        ++i_;
        if (t.text == "true" || t.text == "True") return literal(Value(true), line);
        if (t.text == "false" || t.text == "False") return literal(Value(false), line);
        if (t.text == "none" || t.text == "None") return literal(Value(nullptr), line);
        return make(Expr::Kind::kName, line, t.text);
      }
      case K::kString: {
        std::string s;
        while (cur().kind == K::kString) s += next().text;  // adjacent literals concatenate
        return literal(Value(std::move(s)), line);
      }
      case K::kInt:
        ++i_;
        try {
          return literal(Value(static_cast<int64_t>(std::stoll(t.text))), line);
        } catch (const std::out_of_range&) {
          fail_at(line, fmt::format("integer literal {} is too large", t.text));
        }
      case K::kFloat:
        ++i_;
        return literal(Value(std::stod(t.text)), line);
      default:
        break;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return make(Expr::Kind::kList, line, "tuple");
      ExprPtr first = parse_expression();
      if (accept_op(")")) return first;
      auto list = make(Expr::Kind::kList, line, "tuple");
      list->args.push_back(std::move(first));
      while (accept_op(",") && !is_op(")")) list->args.push_back(parse_expression());
      expect_op(")");
      return list;
    }
    if (accept_op("[")) {
      auto list = make(Expr::Kind::kList, line);
      while (!accept_op("]")) {
        list->args.push_back(parse_expression());
        if (!is_op("]")) expect_op(",");
      }
      return list;
    }
    if (accept_op("{")) {
      auto dict = make(Expr::Kind::kDict, line);
      while (!accept_op("}")) {
        dict->args.push_back(parse_expression());
        expect_op(":");
        dict->args.push_back(parse_expression());
        if (!is_op("}")) expect_op(",");
      }
      return dict;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const int line = cur().line;
      if (accept_op(".")) {
        if (cur().kind == K::kInt) {
          auto e = make(Expr::Kind::kGetItem, line);
          e->args.push_back(std::move(node));
          e->args.push_back(literal(Value(static_cast<int64_t>(std::stoll(next().text))), line));
          node = std::move(e);
        } else {
          auto e = make(Expr::Kind::kGetAttr, line, expect_name());
          e->args.push_back(std::move(node));
          node = std::move(e);
        }
      } else if (accept_op("[")) {
        node = parse_subscript(std::move(node), line);
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    ExprPtr parts[3];
    bool slice = false;
    for (int k = 0; k < 3; ++k) {
      if (!is_op(":") && !is_op("]")) parts[k] = parse_expression();
      if (k == 2 || !accept_op(":")) break;
      slice = true;
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) unexpected("an index");
      auto e = make(Expr::Kind::kGetItem, line);
      e->args.push_back(std::move(target));
      e->args.push_back(std::move(parts[0]));
      return e;
    }
    auto e = make(Expr::Kind::kSlice, line);
    e->args.push_back(std::move(target));
    for (auto& p : parts) e->args.push_back(std::move(p));
    return e;
  }

  // `(` args `)` appended to `e` (whose args[0..] may already hold the callee / filtered value).
  void parse_args(Expr& e) {
    expect_op("(");
    while (!accept_op(")")) {
      if (cur().kind == K::kName && peek().kind == K::kOp && peek().text == "=") {
        std::string key = next().text;
        ++i_;
        e.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!e.kwargs.empty()) fail_at(cur().line, "positional argument follows keyword argument");
        e.args.push_back(parse_expression());
      }
      if (!is_op(")")) expect_op(",");
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::kCall, cur().line);
    e->args.push_back(std::move(callee));
    parse_args(*e);
    return e;
  }

  // One filter name and its arguments, applied to `node`.
  ExprPtr parse_filter(ExprPtr node, int line) {
    const std::string name = expect_name();
    if (!has_filter(name)) fail_at(line, fmt::format("unknown filter '{}'", name));
    auto e = make(Expr::Kind::kFilter, line, name);
    e->args.push_back(std::move(node));
    if (is_op("(")) parse_args(*e);
    return e;
  }

  ExprPtr parse_filter_chain(ExprPtr node) {
    while (is_op("|")) {
      const int line = next().line;
      node = parse_filter(std::move(node), line);
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        const int line = next().line;
        const bool negated = accept_name("not");
        const std::string name = expect_name();
        if (!has_test(name)) fail_at(line, fmt::format("unknown test '{}'", name));
        auto e = make(Expr::Kind::kTest, line, name);
        e->negated = negated;
        e->args.push_back(std::move(node));
        const Token& t = cur();
        if (is_op("(")) {
          parse_args(*e);
        } else if ((t.kind == K::kName || t.kind == K::kString || t.kind == K::kInt ||
                    t.kind == K::kFloat || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          e->args.push_back(parse_postfix(parse_primary()));  // `x is divisibleby 3`
        }
        node = std::move(e);
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // Bounds the parser's recursion, so a pathological template fails instead of overflowing the
  // stack.
  struct DepthGuard {
    DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxDepth) fail_at(p_.cur().line, "template nesting is too deep");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };
  static constexpr int kMaxDepth = 256;

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;  // enclosing for-loop bodies, for break/continue
};

}  // namespace

Body parse(const std::vector<Token>& tokens) { return Parser(tokens).parse_template(); }

}  // namespace kiln::chat::jinja
