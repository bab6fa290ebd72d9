// Helpers for op tests: seeded random tensors and relative-error comparison.
#pragma once

#include <cmath>
#include <random>

#include "core/tensor.h"

namespace kiln::test {

inline Tensor random_tensor(const Shape& shape, uint64_t seed, float scale = 1.f) {
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

inline Tensor int_tensor(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::kInt32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

// ‖a − b‖ / ‖b‖ over all elements.
inline double rel_error(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace kiln::test
