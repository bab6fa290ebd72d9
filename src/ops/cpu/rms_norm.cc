#include <cmath>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {
namespace {

// Mean of squares in double (the CPU is the oracle), one fp32 scale per row as HF computes it:
// x * rsqrt(mean(x²) + eps), then * w.
void norm_row(float* out, const float* x, const float* w, int64_t d, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
  for (int64_t i = 0; i < d; ++i) out[i] = (x[i] * inv) * w[i];
}

}  // namespace

void rms_norm(float* out, const float* x, const float* w, int64_t rows, int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) norm_row(out + r * d, x + r * d, w, d, eps);
}

void add_rms_norm(float* residual, float* out, const float* delta, const float* w, int64_t rows,
                  int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    float* res = residual + r * d;
    for (int64_t i = 0; i < d; ++i) res[i] += delta[r * d + i];
    norm_row(out + r * d, res, w, d, eps);
  }
}

}  // namespace kiln::ops::cpu
