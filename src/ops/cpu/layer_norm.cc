#include <cmath>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

// Two-pass mean/variance in double accumulation: matches torch's fp32 LayerNorm to ~1e-7.
void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t rows,
                int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* o = out + r * d;
    double sum = 0;
    for (int64_t j = 0; j < d; ++j) sum += xr[j];
    const double mean = sum / d;
    double var = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double c = xr[j] - mean;
      var += c * c;
    }
    var /= d;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int64_t j = 0; j < d; ++j) o[j] = (xr[j] - m) * inv * w[j] + (b ? b[j] : 0.f);
  }
}

}  // namespace kiln::ops::cpu
