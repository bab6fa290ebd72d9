#include "models/common/random_weights.h"

namespace kiln::models {

bool is_norm_weight(const std::string& k) {
  const auto ends_with = [&](const char* s) {
    const size_t n = std::char_traits<char>::length(s);
    return k.size() >= n && k.compare(k.size() - n, n, s) == 0;
  };
  const bool ln_module = k.rfind("ln_", 0) == 0 || k.find(".ln_") != std::string::npos;
  return ends_with(".weight") && (ln_module || ends_with("norm.weight"));
}

void fill_random_weights(const std::vector<WeightEntry>& entries, uint64_t seed,
                         const std::function<bool(const std::string&)>& starts_at_one) {
  int64_t index = 0;
  for (const WeightEntry& e : entries) {
    *e.tensor = Tensor::empty(e.shape, DType::kFloat32);
    float* p = e.tensor->data<float>();
    const int64_t count = e.tensor->numel();
    const bool one = starts_at_one ? starts_at_one(e.kiln_name) : is_norm_weight(e.kiln_name);
    const float center = one ? 1.f : 0.f;
    const uint64_t s = seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(++index);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      // SplitMix64 hash -> uniform in [-1, 1) scaled to std 0.02.
      uint64_t z = s + static_cast<uint64_t>(i) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const float u = static_cast<float>(z >> 40) / static_cast<float>(1 << 24) * 2.f - 1.f;
      p[i] = center + u * 0.0346f;  // uniform std = 0.0346/sqrt(3) = 0.02
    }
  }
}

}  // namespace kiln::models
