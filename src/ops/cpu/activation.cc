#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;

template <class F>
void apply(float* x, int64_t count, F f) {
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) x[i] = f(x[i]);
}

inline float gelu_exact(float v) { return 0.5f * v * (1.f + std::erf(v * 0.7071067811865476f)); }
inline float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }

}  // namespace

void activation(float* x, int64_t count, ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kGeluExact:
      return apply(x, count, gelu_exact);
    case ActivationKind::kGeluTanh:
    case ActivationKind::kGeluAccurate:
      return apply(x, count, [](float v) {
        return 0.5f * v * (1.f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
      });
    case ActivationKind::kGeluFast:
      return apply(x, count, [](float v) {
        return 0.5f * v * (1.f + std::tanh(v * 0.7978845608f * (1.f + 0.044715f * v * v)));
      });
    case ActivationKind::kQuickGelu:
      return apply(x, count, [](float v) { return v * sigmoid(1.702f * v); });
    case ActivationKind::kRelu:
      return apply(x, count, [](float v) { return v > 0.f ? v : 0.f; });
    case ActivationKind::kSilu:
      return apply(x, count, [](float v) { return v * sigmoid(v); });
    case ActivationKind::kTanh:
      return apply(x, count, [](float v) { return std::tanh(v); });
    case ActivationKind::kSigmoid:
      return apply(x, count, sigmoid);
    case ActivationKind::kLinear:
      return;
    case ActivationKind::kMish:
      return apply(x, count, [](float v) { return v * std::tanh(std::log1p(std::exp(v))); });
    case ActivationKind::kRelu6:
      return apply(x, count, [](float v) { return std::clamp(v, 0.f, 6.f); });
    case ActivationKind::kRelu2:
      return apply(x, count, [](float v) { return v > 0.f ? v * v : 0.f; });
    case ActivationKind::kLeakyRelu:
      return apply(x, count, [](float v) { return v > 0.f ? v : 0.01f * v; });
    case ActivationKind::kGelu10:
      return apply(x, count, [](float v) { return std::clamp(gelu_exact(v), -10.f, 10.f); });
  }
}

}  // namespace kiln::ops::cpu

namespace kiln::ops::cpu {

void gated_activation(float* out, const float* x, int64_t rows, int64_t d, ActivationKind kind) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    float* o = out + r * d;
    const float* g = x + r * 2 * d;
    std::copy(g, g + d, o);
    activation(o, d, kind);
    for (int64_t i = 0; i < d; ++i) o[i] *= g[d + i];
  }
}

}  // namespace kiln::ops::cpu
