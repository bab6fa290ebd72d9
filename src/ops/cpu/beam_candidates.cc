// Beam-search candidates on the host: the CPU twin of cuda::beam_candidates, and the log-softmax
// the host beam search itself uses (runtime/sampling/beam_search.cc calls log_softmax_row).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "ops/cpu/kernels.h"

namespace kiln::ops::cpu {
namespace {

// torch.topk ranks NaN above everything (the beam search's rank_key does the same).
inline float rank_key(float v) {
  return std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
}

}  // namespace

void log_softmax_row(float* row, int64_t vocab) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, row[i]);
  if (std::isinf(mx) && mx < 0) return;  // every token masked: stays -inf
  double sum = 0;  // fp32 exponentials (as torch computes them), accumulated in double
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(row[i] - mx);
  const float lse = static_cast<float>(std::log(sum));
  for (int64_t i = 0; i < vocab; ++i) row[i] = (row[i] - mx) - lse;
}

void beam_candidates(float* out_logprobs, int32_t* out_tokens, const float* logits,
                     const int32_t* row_ids, const int32_t* mask_ids, int64_t rows, int64_t vocab,
                     int64_t max_mask, int64_t k) {
#pragma omp parallel for schedule(dynamic, 1) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> lp(logits + static_cast<int64_t>(row_ids[r]) * vocab,
                          logits + (static_cast<int64_t>(row_ids[r]) + 1) * vocab);
    log_softmax_row(lp.data(), vocab);
    for (int64_t j = 0; j < max_mask; ++j) {
      const int32_t t = mask_ids[r * max_mask + j];
      if (t >= 0 && t < vocab) lp[t] = -std::numeric_limits<float>::infinity();
    }
    std::vector<int32_t> idx(vocab);
    std::iota(idx.begin(), idx.end(), 0);
    const auto before = [&](int32_t a, int32_t b) {
      const float ka = rank_key(lp[a]), kb = rank_key(lp[b]);
      return ka > kb || (ka == kb && a < b);
    };
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
    for (int64_t j = 0; j < k; ++j) {
      out_logprobs[r * k + j] = lp[idx[j]];
      out_tokens[r * k + j] = idx[j];
    }
  }
}

}  // namespace kiln::ops::cpu
