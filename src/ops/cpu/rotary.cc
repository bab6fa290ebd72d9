#include <algorithm>
#include <cmath>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

void rotary_embedding(float* x, const int32_t* positions, const float* inv_freq, int64_t n,
                      int64_t row_width, int num_heads, int head_dim, int rotary_dim,
                      bool interleaved, float attention_scaling, RotaryTable table) {
  const int half = rotary_dim / 2;
#pragma omp parallel for schedule(static) if (n * num_heads * half > 65536)
  for (int64_t t = 0; t < n; ++t) {
    const float pos = static_cast<float>(positions[t]);
    const float* f = inv_freq;
    if (table.token_seq) {
      const int64_t row = std::clamp<int64_t>(table.seq_len[table.token_seq[t]] - table.base_len,
                                              0, table.rows - 1);
      f += row * half;
    }
    for (int i = 0; i < half; ++i) {
      const float angle = pos * f[i];  // fp32, as HF's inv_freq @ positions
      const float c = std::cos(angle) * attention_scaling, s = std::sin(angle) * attention_scaling;
      for (int h = 0; h < num_heads; ++h) {
        float* v = x + t * row_width + static_cast<int64_t>(h) * head_dim;
        const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x1 * c + x0 * s;
      }
    }
  }
}

}  // namespace kiln::ops::cpu
