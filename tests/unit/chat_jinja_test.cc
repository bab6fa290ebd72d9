// The Jinja interpreter piece by piece. Expected strings are what Python jinja2 3.1 renders with
// HF's settings (trim_blocks, lstrip_blocks, loop controls).
#include <gtest/gtest.h>

#include <string>

#include "chat/jinja/template.h"
#include "chat/jinja/value.h"
#include "core/check.h"

namespace kiln::chat::jinja {
namespace {

std::string R(const std::string& src, const Dict& ctx = {}) { return Template(src).render(ctx); }

// The message of the kiln::Error that parsing or rendering `src` throws ("" when none).
std::string error_of(const std::string& src, const Dict& ctx = {}) {
  try {
    R(src, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChatJinja, TextAndOutput) {
  EXPECT_EQ(R(""), "");
  EXPECT_EQ(R("plain { text } %}"), "plain { text } %}");
  EXPECT_EQ(R("a{{ 1 + 2 }}b"), "a3b");
  EXPECT_EQ(R("{{ {'a': {'b': 1}}['a']['b'] }}"), "1");  // '}}' inside braces does not close
  EXPECT_EQ(R("{{ none }}|{{ true }}|{{ 1.0 }}|{{ missing }}|{{ [1, 'a', none] }}"),
            "None|True|1.0||[1, 'a', None]");
}

TEST(ChatJinja, TrimAndLstripBlocks) {
  EXPECT_EQ(R("{% if true %}\nA\n{% endif %}\nB"), "A\nB");
  EXPECT_EQ(R("  {% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(R("{{ 1 }}\n2"), "1\n2");                  // no trim after a variable tag
  EXPECT_EQ(R("a {# c #}\nb"), "a b");                 // comments trim like blocks
  EXPECT_EQ(R("x {% if true %}y{% endif %}"), "x y");  // not at line start: spaces stay
}

TEST(ChatJinja, WhitespaceControl) {
  EXPECT_EQ(R("a  {{- 'b' -}}  \n c"), "abc");
  EXPECT_EQ(R("a\n  {%- if true -%}\n  b\n{%- endif %}"), "ab");
  EXPECT_EQ(R("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(R("{% if true +%}\nx{% endif %}"), "\nx");
  EXPECT_EQ(R("a {#- c -#} b"), "ab");
}

TEST(ChatJinja, NewlinesNormalisedAndTrailingOneDropped) {
  EXPECT_EQ(R("x\n"), "x");
  EXPECT_EQ(R("x\n\n"), "x\n");
  EXPECT_EQ(R("a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n"), "a\nb\n");
}

TEST(ChatJinja, RawBlock) {
  EXPECT_EQ(R("{% raw %}{{ x }}{% if %}{% endraw %}!"), "{{ x }}{% if %}!");
}

TEST(ChatJinja, LoopVariables) {
  EXPECT_EQ(R("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
              "{{ loop.length }}{{ loop.revindex }}|{% endfor %}"),
            "10TrueFalse33|21FalseFalse32|32FalseTrue31|");
  EXPECT_EQ(R("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a', "
              "'b') }},"
              "{% endfor %}"),
            "-2-a,1-3-b,2--a,");
}

TEST(ChatJinja, ForElseFilterUnpackBreakContinue) {
  EXPECT_EQ(R("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for x in missing %}x{% else %}undefined is empty{% endfor %}"),
            "undefined is empty");
  EXPECT_EQ(R("{% for x in range(6) if x is even %}{{ x }}{{ loop.length }},{% endfor %}"),
            "03,23,43,");
  EXPECT_EQ(R("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  EXPECT_EQ(R("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}"), "ba");  // insertion order
  EXPECT_EQ(R("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% elif i == 4 %}{% break %}{% "
              "endif %}"
              "{{ i }}{% endfor %}"),
            "023");
}

TEST(ChatJinja, ScopesAndNamespace) {
  // Each loop iteration is a fresh scope: assignments inside do not survive it.
  EXPECT_EQ(
      R("{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}"),
      "1110");
  EXPECT_EQ(
      R("{% set ns = namespace(c=0) %}{% for i in range(3) %}{% set ns.c = ns.c + 1 %}{% endfor %}"
        "{{ ns.c }}"),
      "3");
  EXPECT_EQ(R("{% if true %}{% set x = 'leaks' %}{% endif %}{{ x }}"), "leaks");  // if has no scope
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(R("{% set block %}x{{ 1 }}{% endset %}{{ block }}{{ block }}"), "x1x1");
  EXPECT_EQ(R("{% set block | upper %}abc{% endset %}{{ block }}"), "ABC");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.a = 2 %}"),
            "chat template line 1: cannot assign attribute on non-namespace object");
}

TEST(ChatJinja, Macros) {
  EXPECT_EQ(R("{% macro f(a, b=2) %}[{{ a }}{{ b }}{{ g }}]{% endmacro %}{% set g = 9 %}{{ f(1) "
              "}}{{ f(1, b=3) }}"),
            "[129][139]");
}

TEST(ChatJinja, Expressions) {
  EXPECT_EQ(R("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ -2 ** 2 }} {{ "
              "1 + 2 * 3 }}"),
            "3 -4 2 3.5 1024 4 7");
  EXPECT_EQ(R("{{ 'a' ~ (1 + 2) }} {{ 'x' + 'y' | upper }} {{ [1] + [2] }} {{ 'ab' * 2 }}"),
            "a3 xY [1, 2] abab");
  EXPECT_EQ(R("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'b' in 'abc' }} {{ 2 not in [1] "
              "}} {{ not 0 }}"),
            "True False True True True True");
  EXPECT_EQ(R("{{ none or 'd' }} {{ 0 and 1 }} {{ 'y' if 1 else 'n' }} {{ 'y' if 0 }}|"),
            "d 0 y |");
  EXPECT_EQ(R("{{ 'a\\tb\\n\\u00e9\\x41' }} {{ \"q'\" 'concat' }}"), "a\tb\né\x41 q'concat");
  EXPECT_EQ(R("{{ x[::-1] }} {{ x[1:] }} {{ x[:-1] }} {{ x[-1] }} {{ 'héllo'[1:3] }}",
              {{"x", List{1, 2, 3}}}),
            "[3, 2, 1] [2, 3] [1, 2] 3 él");
}

TEST(ChatJinja, UndefinedAndNone) {
  EXPECT_EQ(
      R("{{ missing }}|{{ missing ~ 'x' }}|{{ missing|length }}|{{ none.attr }}|{{ {}.nokey }}"),
      "|x|0||");
  EXPECT_EQ(R("{{ missing is defined }} {{ missing is undefined }} {{ none is none }} {{ missing "
              "== missing }}"),
            "False True True True");
  EXPECT_EQ(error_of("{{ missing.attr }}"), "chat template line 1: 'missing' is undefined");
  EXPECT_EQ(error_of("\n{{ foo() }}"), "chat template line 2: 'foo' is undefined");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"),
            "chat template line 1: unsupported operand type(s) for +: 'int' and 'str'");
}

TEST(ChatJinja, Tests) {
  EXPECT_EQ(R("{{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1 is integer }}{{ 1.5 "
              "is float }}"),
            "TrueTrueFalseTrueTrue");
  EXPECT_EQ(R("{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is iterable }}{{ 1 "
              "is iterable }}"),
            "TrueTrueTrueTrueFalse");
  EXPECT_EQ(R("{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}{{ "
              "true is true }}"
              "{{ 0 is false }}{{ false is boolean }}{{ 1 is not none }}"),
            "TrueTrueTrueFalseTrueFalseTrueTrue");
  EXPECT_EQ(R("{{ 2 is eq 2 }}{{ 'x' is equalto 'x' }}{{ 1 is lt 2 }}{{ 'ab' is lower }}{{ 'x' is "
              "in 'xy' }}"),
            "TrueTrueTrueTrueTrue");
}

TEST(ChatJinja, Filters) {
  EXPECT_EQ(R("{{ '  Hi  '|trim }}|{{ 'xHix'|trim('x') }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'aB "
              "c'|capitalize }}|"
              "{{ 'a-b c'|title }}"),
            "Hi|Hi|AB|ab|Ab c|A-B C");
  EXPECT_EQ(R("{{ [1, 2]|length }} {{ 'héllo'|count }} {{ [1, 2]|first }} {{ [1, 2]|last }} {{ "
              "'ab'|list }} "
              "{{ [1, 2]|join(', ') }} {{ 12|string ~ '' }} {{ [3, 1]|reverse|list }} {{ "
              "'ab'|reverse }}"),
            "2 5 1 2 ['a', 'b'] 1, 2 12 [1, 3] ba");
  EXPECT_EQ(
      R("{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('n') }}"),
      "d  d None");
  EXPECT_EQ(R("{{ '42'|int + 1 }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} "
              "{{ 2.5|round }} "
              "{{ 2.567|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ -3|abs }}"),
            "43 0 7 3 2.5 2.0 2.57 3.0 3");
  EXPECT_EQ(
      R("{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ {'b': 1, 'a': "
        "2}|items|list }} "
        "{{ {'b': 1, 'a': 2}|dictsort }} {{ ['b', 'A', 'a']|unique|list }} {{ [3, 1, 2]|sort }}"),
      "a+b+c bba [('b', 1), ('a', 2)] [('a', 2), ('b', 1)] ['b', 'A'] [1, 2, 3]");
  EXPECT_EQ(R("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}"),
            "a\n  b\n\n  c|  a\n  b");
  EXPECT_EQ(R("{{ '<&>'|e }} {{ '<b>'|safe }}"), "&lt;&amp;&gt; <b>");
}

TEST(ChatJinja, SelectMapFilters) {
  const Dict ctx = {
      {"ms", List{Value(Dict{{"role", "system"}, {"n", 1}}), Value(Dict{{"role", "user"}}),
                  Value(Dict{{"role", "user"}, {"n", 3}})}}};
  EXPECT_EQ(R("{{ ms|selectattr('role', 'equalto', 'user')|list|length }} {{ ms|rejectattr('role', "
              "'eq', 'user')|"
              "map(attribute='role')|join }} {{ ms|selectattr('n')|map(attribute='n')|list }} "
              "{{ ms|map(attribute='n', default=0)|list }} {{ ['a', 'B']|map('upper')|join }} "
              "{{ [0, 1, 2]|select|list }} {{ [1, 2, 3]|reject('odd')|list }} {{ "
              "ms|map(attribute='role')|unique|list }}",
              ctx),
            "2 system [1, 3] [1, 0, 3] AB [1, 2] [2] ['system', 'user']");
}

TEST(ChatJinja, ToJson) {
  EXPECT_EQ(R("{{ {'b': [1, 2.5, none, true], 'a': 'é\"\\n<'}|tojson }}"),
            "{\"b\": [1, 2.5, null, true], \"a\": \"é\\\"\\n<\"}");
  EXPECT_EQ(R("{{ {'a': [1], 'b': {}}|tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(R("{{ {'z': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }}"),
            "{\"a\": 2, \"z\": 1} \"\\u00e9\"");
  EXPECT_EQ(R("{{ x|tojson }}", {{"x", Value(Dict{{"z", 1}, {"a", 2}})}}), "{\"z\": 1, \"a\": 2}");
}

TEST(ChatJinja, StringAndDictMethods) {
  EXPECT_EQ(R("{{ ' x '.strip() }}|{{ 'xyx'.strip('x') }}|{{ ' l'.lstrip() }}|{{ 'r '.rstrip() "
              "}}|{{ 'a,b'.split(',') }}|"
              "{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'abc'.startswith('ab') }}|"
              "{{ 'abc'.endswith(('x', 'c')) }}|{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}|{{ "
              "\"it's\".title() }}"),
            "x|y|l|r|['a', 'b']|['a', 'b']|['a', 'b c']|True|True|ABab|It'S");
  EXPECT_EQ(R("{{ d.get('a') }} {{ d.get('z', 'dflt') }} {{ d.get('z') }} {{ d.keys()|list }} {{ "
              "d.values()|list }} "
              "{{ d.items()|list }}",
              {{"d", Value(Dict{{"a", 1}})}}),
            "1 dflt None ['a'] [1] [('a', 1)]");
  // `.name` prefers a method, `['name']` the key.
  EXPECT_EQ(R("{{ d['items'] }} {{ d.items is callable }}", {{"d", Value(Dict{{"items", 5}})}}),
            "5 True");
}

TEST(ChatJinja, GenerationBlockRendersBody) {
  EXPECT_EQ(R("{% generation %}tracked{% endgeneration %}"), "tracked");
}

TEST(ChatJinja, RaiseExceptionKeepsTheTemplatesMessage) {
  EXPECT_EQ(error_of("{% if true %}{{ raise_exception('Roles must alternate!') }}{% endif %}"),
            "Roles must alternate!");
  EXPECT_THROW(R("{{ raise_exception('x') }}"), Error);
}

TEST(ChatJinja, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(error_of("a\nb\n{{ x "), "chat template line 3: unterminated '{{' (missing '}}')");
  EXPECT_EQ(error_of("a\n\n{% if x "), "chat template line 3: unterminated '{%' (missing '%}')");
  EXPECT_EQ(error_of("\n{# open"), "chat template line 2: unterminated comment");
  EXPECT_EQ(error_of("line1\n{{ x | nofilter }}"),
            "chat template line 2: unknown filter 'nofilter'");
  EXPECT_EQ(error_of("{{ x is nottest }}"), "chat template line 1: unknown test 'nottest'");
  EXPECT_EQ(error_of("\n\n{{ 1 + }}"), "chat template line 3: expected an expression, got '}}'");
  EXPECT_EQ(error_of("{% frobnicate %}"), "chat template line 1: unknown tag 'frobnicate'");
  EXPECT_EQ(error_of("{% include 'x' %}"), "chat template line 1: unsupported tag 'include'");
  EXPECT_EQ(error_of("x\n{% for m in ms %}\n\n"),
            "chat template line 2: unexpected end of template: block opened here was never closed "
            "(expected "
            "'endfor')");
  EXPECT_EQ(error_of("{% if a %}{% endfor %}"), "chat template line 1: unknown tag 'endfor'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "chat template line 1: unterminated string literal");
  EXPECT_EQ(error_of("{{ a ) }}"), "chat template line 1: unexpected ')'");
  EXPECT_EQ(error_of("{{ 1 @ 2 }}"), "chat template line 1: unexpected character '@'");
  EXPECT_EQ(error_of("\n{% break %}"), "chat template line 2: 'break' outside of a for loop");
}

TEST(ChatJinja, RuntimeErrorsNameTheLine) {
  EXPECT_EQ(error_of("\n\n{{ 1 < 'a' }}"),
            "chat template line 3: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(error_of("{{ 10 // 0 }}"), "chat template line 1: integer division or modulo by zero");
  EXPECT_EQ(error_of("\n{% for x in 5 %}{% endfor %}"),
            "chat template line 2: 'int' object is not iterable");
  EXPECT_EQ(error_of("{{ 'a'|join(attribute=1, bogus=2) }}"),
            "chat template line 1: join() got an unexpected keyword argument 'bogus'");
}

TEST(ChatJinja, PathologicalTemplatesFailCleanly) {
  EXPECT_EQ(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "chat template line 1: maximum macro recursion depth exceeded");
  EXPECT_EQ(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
            "chat template line 1: template nesting is too deep");
  std::string nested_ifs;
  for (int i = 0; i < 1000; ++i) nested_ifs += "{% if true %}";
  EXPECT_EQ(error_of(nested_ifs), "chat template line 1: template nesting is too deep");
  EXPECT_NE(error_of("{{ 'a' * 10000000000 }}").find("too large"), std::string::npos);
  EXPECT_EQ(R("{{ 2 ** 62 }} {{ 3 ** 3 }}"), "4611686018427387904 27");
}

TEST(ChatJinja, MacroSeesLoopVariablesOfItsDefinition) {
  EXPECT_EQ(R("{% for x in [1, 2] %}{% macro m() %}{{ x }}{% endmacro %}{{ m() }}{% endfor %}"),
            "12");
}

TEST(ChatJinjaValue, PythonReprOfFloats) {
  EXPECT_EQ(format_float(1.0), "1.0");
  EXPECT_EQ(format_float(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_float(1e16), "1e+16");
  EXPECT_EQ(format_float(1e15), "1000000000000000.0");
  EXPECT_EQ(format_float(0.0001), "0.0001");
  EXPECT_EQ(format_float(0.00001), "1e-05");
  EXPECT_EQ(format_float(-2.5e-300), "-2.5e-300");
}

TEST(ChatJinjaValue, ReprQuotesLikePython) {
  EXPECT_EQ(Value("it's").repr(), "\"it's\"");
  EXPECT_EQ(Value("a'\"b\n").repr(), "'a\\'\"b\\n'");
  EXPECT_EQ(Value::tuple({Value(1)}).repr(), "(1,)");
}

}  // namespace
}  // namespace kiln::chat::jinja
