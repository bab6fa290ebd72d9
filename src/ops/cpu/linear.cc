#include <cblas.h>

#include <cstring>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

constexpr int64_t kGemvMaxRows = 2;

void linear(float* out, const float* x, const float* w, const float* bias, int64_t n, int64_t m,
            int64_t k) {
  float beta = 0.f;
  if (bias) {
    for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * m, bias, m * sizeof(float));
    beta = 1.f;
  }
  if (n == 0 || m == 0) return;
  // Decode-sized batches: GEMV streams the weights once per row without GEMM's packing copies
  // (OpenBLAS 0.3.21 does not forward skinny GEMMs to GEMV itself).
  if (n <= kGemvMaxRows) {
    for (int64_t i = 0; i < n; ++i)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(m), static_cast<int>(k), 1.f, w,
                  static_cast<int>(k), x + i * k, 1, beta, out + i * m, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(m),
              static_cast<int>(k), 1.f, x, static_cast<int>(k), w, static_cast<int>(k), beta, out,
              static_cast<int>(m));
}

void add(float* out, const float* a, const float* b, int64_t count) {
#pragma omp parallel for schedule(static) if (count > 262144)
  for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}

}  // namespace kiln::ops::cpu
