#include <cstring>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

int64_t embedding(float* out, const int32_t* ids, const float* table, int64_t n, int64_t vocab,
                  int64_t d, bool accumulate) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= vocab) return i;
#pragma omp parallel for schedule(static) if (n * d > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float* row = table + static_cast<int64_t>(ids[i]) * d;
    float* o = out + i * d;
    if (accumulate) {
      for (int64_t j = 0; j < d; ++j) o[j] += row[j];
    } else {
      std::memcpy(o, row, d * sizeof(float));
    }
  }
  return -1;
}

void gather_rows(float* out, const float* x, const int32_t* rows, int64_t m, int64_t d) {
  for (int64_t i = 0; i < m; ++i) std::memcpy(out + i * d, x + rows[i] * d, d * sizeof(float));
}

}  // namespace kiln::ops::cpu
