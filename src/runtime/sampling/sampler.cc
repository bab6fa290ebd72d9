#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void apply_repetition_penalty(float* logits, int64_t vocab, float penalty,
                              const std::vector<int32_t>& context) {
  if (penalty == 1.f) return;
  std::vector<bool> seen(vocab, false);
  for (int32_t t : context) {
    if (t < 0 || t >= vocab || seen[t]) continue;
    seen[t] = true;
    logits[t] = logits[t] < 0.f ? logits[t] * penalty : logits[t] / penalty;
  }
}

void apply_top_k(float* logits, int64_t vocab, int64_t k) {
  if (k <= 0 || k >= vocab) return;
  std::vector<float> v(logits, logits + vocab);
  std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
  const float kth = v[k - 1];
  for (int64_t i = 0; i < vocab; ++i)
    if (logits[i] < kth) logits[i] = kNegInf;
}

// HF TopPLogitsWarper: sort ascending, drop tokens whose cumulative probability <= 1 - top_p,
// always keeping the most likely one.
void apply_top_p(float* logits, int64_t vocab, float top_p) {
  if (top_p >= 1.f) return;
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] < logits[b]; });
  const float mx = logits[order.back()];
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  double cum = 0;
  for (int64_t i = 0; i < vocab - 1; ++i) {
    cum += std::exp(static_cast<double>(logits[order[i]]) - mx) / sum;
    if (cum <= 1.0 - top_p) logits[order[i]] = kNegInf;
  }
}

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

}  // namespace

int32_t choose_token(float* logits, int64_t vocab, const SamplingParams& p,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng) {
  apply_repetition_penalty(logits, vocab, p.repetition_penalty, context);
  if (num_generated < p.min_new_tokens)
    for (int32_t e : p.eos_token_ids)
      if (e >= 0 && e < vocab) logits[e] = kNegInf;
  if (!p.do_sample) return argmax(logits, vocab);

  if (p.temperature != 1.f)
    for (int64_t i = 0; i < vocab; ++i) logits[i] /= p.temperature;
  apply_top_k(logits, vocab, p.top_k);
  apply_top_p(logits, vocab, p.top_p);
  const float mx = logits[argmax(logits, vocab)];
  std::vector<double> probs(vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += probs[i] = std::exp(static_cast<double>(logits[i]) - mx);
  std::uniform_real_distribution<double> u(0.0, sum);
  double r = u(rng), acc = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    acc += probs[i];
    if (r < acc && probs[i] > 0) return static_cast<int32_t>(i);
  }
  return argmax(logits, vocab);  // rounding at the very end of the range
}

}  // namespace kiln::runtime
