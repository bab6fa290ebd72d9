#include "models/common/config_fields.h"

#include "core/check.h"

namespace kiln::models {

int64_t get_aliased(const io::JsonConfig& cfg, const char* key, const char* alias, int64_t dflt) {
  if (cfg.has(key)) return cfg.get<int64_t>(key);
  return cfg.get_or<int64_t>(alias, dflt);
}

void check_positive(const io::JsonConfig& cfg, const char* name, int64_t value) {
  KILN_CHECK(value > 0, "{}: {} must be positive, got {}", cfg.source(), name, value);
}

nlohmann::json int_or_list_json(const std::vector<int64_t>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

}  // namespace kiln::models
