#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "runtime/sampling/logits_processors.h"

namespace kiln::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int32_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

// HF TopKLogitsWarper: drop every token below the k-th largest logit (ties at the k-th stay).
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

// HF MinPLogitsWarper: drop tokens with prob < min_p * max prob. The softmax normaliser cancels:
// prob_i < min_p * prob_max  <=>  exp(l_i - l_max) < min_p. The maximum always stays.
void apply_min_p(float* logits, int64_t vocab, float min_p) {
  if (min_p <= 0.f) return;
  const double mx = logits[argmax(logits, vocab)];
  for (int64_t i = 0; i < vocab; ++i)
    if (std::exp(static_cast<double>(logits[i]) - mx) < min_p) logits[i] = kNegInf;
}

int32_t sample(float* logits, int64_t vocab, const SamplingParams& p, std::mt19937_64& rng) {
  if (p.temperature != 1.f)
    for (int64_t i = 0; i < vocab; ++i) logits[i] /= p.temperature;
  apply_top_k(logits, vocab, p.top_k);
  apply_top_p(logits, vocab, p.top_p);
  apply_min_p(logits, vocab, p.min_p);
  const float mx = logits[argmax(logits, vocab)];
  std::vector<double> probs(vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += probs[i] = std::exp(static_cast<double>(logits[i]) - mx);
  std::uniform_real_distribution<double> u(0.0, sum);
  double r = u(rng), acc = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    acc += probs[i];
    if (r < acc && probs[i] > 0) return static_cast<int32_t>(i);
  }
  return argmax(logits, vocab);  // rounding at the very end of the range
}

}  // namespace

TokenLogprobs token_logprobs(const float* logits, int64_t vocab, int32_t token, int top_n) {
  TokenLogprobs out;
  out.token = token;
  const double mx = logits[argmax(logits, vocab)];
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  if (token >= 0 && token < vocab) {
    out.logprob = static_cast<float>(logits[token] - lse);
    out.rank = 1;
    for (int64_t i = 0; i < vocab; ++i) out.rank += logits[i] > logits[token];
  }
  const int64_t n = std::min<int64_t>(std::max(top_n, 0), vocab);
  if (n > 0) {
    std::vector<int32_t> ids(vocab);
    std::iota(ids.begin(), ids.end(), 0);
    auto more_likely = [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), more_likely);
    out.top.reserve(n);
    for (int64_t i = 0; i < n; ++i)
      out.top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - lse));
  }
  return out;
}

int32_t choose_token(float* logits, int64_t vocab, const SamplingParams& p,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng) {
  return choose_token(logits, vocab, p, context, num_generated, rng, nullptr);
}

int32_t choose_token(float* logits, int64_t vocab, const SamplingParams& p,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng, TokenLogprobs* logprobs,
                     const std::vector<int32_t>* encoder_ids) {
  std::vector<float> raw;
  if (logprobs) raw.assign(logits, logits + vocab);
  const int64_t prompt_len =
      std::max<int64_t>(0, static_cast<int64_t>(context.size()) - num_generated);
  apply_logits_processors(logits, vocab, p, context, prompt_len, num_generated, encoder_ids);
  const int32_t token = p.do_sample ? sample(logits, vocab, p, rng) : argmax(logits, vocab);
  if (logprobs) *logprobs = token_logprobs(raw.data(), vocab, token, p.logprobs);
  return token;
}

}  // namespace kiln::runtime
