// Paged attention on the CPU: one (token, head) pair per task; keys are walked through the block
// table, so prefill, chunked prefill and decode are the same loop. Scores and softmax in fp32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {

void kv_cache_write(float* k_pool, float* v_pool, const float* k, const float* v, int64_t kv_stride,
                    const int32_t* slots, int64_t n, int64_t kv_heads, int64_t block_size,
                    int64_t head_dim) {
  for (int64_t t = 0; t < n; ++t) {
    const int64_t block = slots[t] / block_size, off = slots[t] % block_size;
    for (int64_t h = 0; h < kv_heads; ++h) {
      const int64_t dst = ((block * kv_heads + h) * block_size + off) * head_dim;
      const int64_t src = t * kv_stride + h * head_dim;
      std::memcpy(k_pool + dst, k + src, head_dim * sizeof(float));
      std::memcpy(v_pool + dst, v + src, head_dim * sizeof(float));
    }
  }
}

void paged_attention(float* out, const float* q, int64_t q_stride, const float* k_pool, const float* v_pool,
                     const int32_t* block_tables, const int32_t* token_seq, const int32_t* kv_len,
                     int64_t n, int64_t heads, int64_t kv_heads, int64_t head_dim,
                     int64_t block_size, int64_t max_blocks, float scale,
                     const int32_t* cu_seqlens, const int32_t* seq_kv_len,
                     const float* position_bias, int64_t bias_radius) {
  const int64_t group = heads / kv_heads;
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for schedule(dynamic, 4) collapse(2)
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t len = kv_len[t];
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * max_blocks;
        const int64_t kvh = h / group;
        const float* qv = q + t * q_stride + h * head_dim;
        const float* bias = nullptr;
        int64_t q_pos = 0;
        if (position_bias) {
          const int64_t s = token_seq[t];
          q_pos = seq_kv_len[s] - (cu_seqlens[s + 1] - cu_seqlens[s]) + (t - cu_seqlens[s]);
          bias = position_bias + h * (2 * bias_radius + 1) + bias_radius;
        }
        scores.resize(len);
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t p = 0; p < len; ++p) {
          const int64_t base = ((table[p / block_size] * kv_heads + kvh) * block_size +
                                p % block_size) * head_dim;
          float s = 0.f;
          for (int64_t d = 0; d < head_dim; ++d) s += qv[d] * k_pool[base + d];
          s *= scale;
          if (bias) s += bias[std::clamp(p - q_pos, -bias_radius, bias_radius)];
          scores[p] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (int64_t p = 0; p < len; ++p) {
          scores[p] = std::exp(scores[p] - mx);
          sum += scores[p];
        }
        const float inv = static_cast<float>(1.0 / sum);
        float* o = out + (t * heads + h) * head_dim;
        std::fill(o, o + head_dim, 0.f);
        for (int64_t p = 0; p < len; ++p) {
          const int64_t base = ((table[p / block_size] * kv_heads + kvh) * block_size +
                                p % block_size) * head_dim;
          const float w = scores[p] * inv;
          for (int64_t d = 0; d < head_dim; ++d) o[d] += w * v_pool[base + d];
        }
      }
    }
  }
}

}  // namespace kiln::ops::cpu
