// What templates can call: filters (filters.cc), tests (tests.cc), attribute/item access and the
// str/dict methods the sandbox allows (objects.cc), and the globals HF installs (globals.cc). They
// throw kiln::Error without a line; the evaluator adds it.
#pragma once

#include <string>

#include "chat/jinja/value.h"

namespace kiln::chat::jinja {

bool has_filter(const std::string& name);
Value apply_filter(const std::string& name, const Value& value, Args& args);

bool has_test(const std::string& name);
bool apply_test(const std::string& name, const Value& value, Args& args);

// x.name: a dict key, a namespace attribute, or a bound str/dict method; else undefined.
Value get_attr(const Value& obj, const std::string& name);
// x[key]: dict key, list/str index (negative counts from the end); else undefined.
Value get_item(const Value& obj, const Value& key);
// x[start:stop:step] on a list or str; undefined bounds are omitted ones.
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// x.a.b.0 as `map(attribute=...)`, `selectattr` and `sort(attribute=...)` look it up.
Value get_path(const Value& obj, const std::string& path);
// `item in container` (substring, list member, dict key).
bool contains(const Value& container, const Value& item);
// The elements a for loop or list() sees: a list's items, a dict's keys, a str's characters.
List iterate(const Value& v);
// str.upper(), str.lower(), str.capitalize() (utf8.h's case mapping).
std::string to_upper(const std::string& s);
std::string to_lower(const std::string& s);
std::string capitalize(const std::string& s);

// range, namespace, dict, raise_exception, strftime_now.
Dict make_globals();

// Positional-or-keyword argument `index`/`name` of a builtin; nullptr when not given.
const Value* find_arg(const Args& args, size_t index, const char* name);
// Throws when args hold more than `max_pos` positional or an unknown keyword.
void check_args(const Args& args, size_t max_pos, std::initializer_list<const char*> names,
                const char* fn);

}  // namespace kiln::chat::jinja
