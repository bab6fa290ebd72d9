#include "io/json_config.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "io/json_parse.h"
#include "io/mapped_file.h"

namespace kiln::io {
namespace {

using json = nlohmann::json;

// A JSON integer (never a bool or a float) that fits in int64.
bool as_int64(const json& v, int64_t* out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() <= std::numeric_limits<int64_t>::max()) {
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  return false;
}

std::string got(const json& v) {
  if (v.is_number_float()) return fmt::format("float {}", v.dump());
  if (v.is_number_unsigned()) return fmt::format("integer {} (out of range)", v.dump());
  return json_type_name(v);
}

}  // namespace

JsonConfig JsonConfig::load(const std::string& path) {
  return from_json(parse_json(read_text_file(path), path, /*reject_duplicates=*/false, 512), path);
}

JsonConfig JsonConfig::from_json(nlohmann::json j, std::string source_name) {
  KILN_CHECK(j.is_object(), "{}: the top level must be a JSON object, got {}", source_name,
             json_type_name(j));
  JsonConfig c;
  c.json_ = std::move(j);
  c.source_ = std::move(source_name);
  return c;
}

bool JsonConfig::has(const std::string& key) const {
  auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

template <ConfigValue T>
T JsonConfig::convert(const nlohmann::json& v, const std::string& what) const {
  if constexpr (std::same_as<T, int64_t> || std::same_as<T, int>) {
    int64_t i = 0;
    KILN_CHECK(as_int64(v, &i), "{}: {} must be an integer, got {}", source_, what, got(v));
    if constexpr (std::same_as<T, int>) {
      KILN_CHECK(i >= std::numeric_limits<int>::min() && i <= std::numeric_limits<int>::max(),
                 "{}: {} = {} does not fit in a 32-bit integer", source_, what, i);
    }
    return static_cast<T>(i);
  } else if constexpr (std::same_as<T, double> || std::same_as<T, float>) {
    KILN_CHECK(v.is_number(), "{}: {} must be a number, got {}", source_, what, got(v));
    const double d = v.get<double>();
    if constexpr (std::same_as<T, float>) {
      KILN_CHECK(std::abs(d) <= std::numeric_limits<float>::max(),
                 "{}: {} = {} is out of range for a 32-bit float", source_, what, v.dump());
    }
    return static_cast<T>(d);
  } else if constexpr (std::same_as<T, bool>) {
    KILN_CHECK(v.is_boolean(), "{}: {} must be a boolean, got {}", source_, what, got(v));
    return v.get<bool>();
  } else if constexpr (std::same_as<T, std::string>) {
    KILN_CHECK(v.is_string(), "{}: {} must be a string, got {}", source_, what, got(v));
    return v.get<std::string>();
  } else {  // std::vector<int64_t> / std::vector<int>
    using E = typename T::value_type;
    KILN_CHECK(v.is_array(), "{}: {} must be a list of integers, got {}", source_, what, got(v));
    T out;
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(convert<std::conditional_t<std::same_as<E, int>, int, int64_t>>(
          v[i], fmt::format("{}[{}]", what, i)));
    return out;
  }
}

template <ConfigValue T>
T JsonConfig::get(const std::string& key) const {
  auto it = json_.find(key);
  KILN_CHECK(it != json_.end(), "{}: missing required key '{}'", source_, key);
  return convert<T>(*it, "'" + key + "'");
}

template <ConfigValue T>
T JsonConfig::get_or(const std::string& key, T default_value) const {
  if (!has(key)) return default_value;
  return convert<T>(json_.at(key), "'" + key + "'");
}

std::vector<int64_t> JsonConfig::get_int_or_list(const std::string& key) const {
  if (!has(key)) return {};
  const nlohmann::json& v = json_.at(key);
  if (v.is_array()) return convert<std::vector<int64_t>>(v, "'" + key + "'");
  int64_t i = 0;
  KILN_CHECK(as_int64(v, &i), "{}: '{}' must be an integer or a list of integers, got {}", source_,
             key, got(v));
  return {i};
}

JsonConfig JsonConfig::sub(const std::string& key) const {
  auto it = json_.find(key);
  KILN_CHECK(it != json_.end(), "{}: missing required key '{}'", source_, key);
  KILN_CHECK(it->is_object(), "{}: '{}' must be an object, got {}", source_, key, got(*it));
  return from_json(*it, source_ + ":" + key);
}

#define KILN_CONFIG_INSTANTIATE(T)                         \
  template T JsonConfig::get<T>(const std::string&) const; \
  template T JsonConfig::get_or<T>(const std::string&, T) const;

KILN_CONFIG_INSTANTIATE(int64_t)
KILN_CONFIG_INSTANTIATE(int)
KILN_CONFIG_INSTANTIATE(double)
KILN_CONFIG_INSTANTIATE(float)
KILN_CONFIG_INSTANTIATE(bool)
KILN_CONFIG_INSTANTIATE(std::string)
KILN_CONFIG_INSTANTIATE(std::vector<int64_t>)
KILN_CONFIG_INSTANTIATE(std::vector<int>)
#undef KILN_CONFIG_INSTANTIATE

}  // namespace kiln::io
