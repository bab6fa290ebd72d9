// JsonConfig: typed, strict access to a JSON config (HF config.json, generation_config.json, kiln
// engine configs). Decision: a getter never coerces across JSON kinds — no bool as int, no float
// as int, no string as number — because a silently reinterpreted hyper-parameter yields a model
// that runs and is wrong; every error names the source file and the key.
#pragma once

#include <concepts>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::io {

template <class T>
concept ConfigValue = std::same_as<T, int64_t> || std::same_as<T, int> || std::same_as<T, double> ||
    std::same_as<T, float> || std::same_as<T, bool> || std::same_as<T, std::string> ||
    std::same_as<T, std::vector<int64_t>> || std::same_as<T, std::vector<int>>;

class JsonConfig {
 public:
  JsonConfig() : json_(nlohmann::json::object()) {}
  // Missing/unreadable file, malformed JSON (with line and column) or a non-object → kiln::Error.
  static JsonConfig load(const std::string& path);
  static JsonConfig from_json(nlohmann::json j, std::string source_name);  // j must be an object

  bool has(const std::string& key) const;  // present and not null
  // Required: missing, null or wrong type → "<source>: 'key' must be an integer, got string".
  template <ConfigValue T>
  T get(const std::string& key) const;
  // Absent or null → default_value; present with the wrong type → error.
  template <ConfigValue T>
  T get_or(const std::string& key, T default_value) const;
  std::string get_or(const std::string& key, const char* default_value) const {
    return get_or<std::string>(key, default_value);
  }
  // HF fields such as eos_token_id may be an integer or a list of integers: returns them as a
  // list; absent or null → empty.
  std::vector<int64_t> get_int_or_list(const std::string& key) const;
  // A nested object (e.g. "text_config") as its own config, source "<source>:key".
  JsonConfig sub(const std::string& key) const;

  const nlohmann::json& json() const { return json_; }
  const std::string& source() const { return source_; }

 private:
  template <ConfigValue T>
  T convert(const nlohmann::json& v, const std::string& what) const;

  nlohmann::json json_;  // always an object
  std::string source_;
};

}  // namespace kiln::io
