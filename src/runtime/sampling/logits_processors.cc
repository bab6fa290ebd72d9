#include "runtime/sampling/logits_processors.h"

#include <algorithm>
#include <limits>

namespace kiln::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Sorted copy of the in-vocabulary ids of [first, last).
std::vector<int32_t> sorted_ids(std::vector<int32_t>::const_iterator first,
                                std::vector<int32_t>::const_iterator last, int64_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(last - first));
  for (auto it = first; it != last; ++it)
    if (*it >= 0 && *it < vocab) ids.push_back(*it);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void apply_repetition_penalty(float* logits, int64_t vocab, float penalty,
                              const std::vector<int32_t>& context) {
  if (penalty == 1.f) return;
  std::vector<int32_t> ids = sorted_ids(context.begin(), context.end(), vocab);
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (int32_t t : ids) logits[t] = logits[t] < 0.f ? logits[t] * penalty : logits[t] / penalty;
}

void apply_presence_frequency(float* logits, int64_t vocab, float presence, float frequency,
                              const std::vector<int32_t>& context, int64_t prompt_len) {
  if (presence == 0.f && frequency == 0.f) return;
  const int64_t start = std::clamp<int64_t>(prompt_len, 0, static_cast<int64_t>(context.size()));
  const std::vector<int32_t> ids = sorted_ids(context.begin() + start, context.end(), vocab);
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    logits[ids[i]] -= presence + frequency * static_cast<float>(j - i);
    i = j;
  }
}

}  // namespace

void apply_logits_processors(float* logits, int64_t vocab, const SamplingParams& p,
                             const std::vector<int32_t>& context, int64_t prompt_len,
                             int64_t num_generated) {
  apply_repetition_penalty(logits, vocab, p.repetition_penalty, context);
  apply_presence_frequency(logits, vocab, p.presence_penalty, p.frequency_penalty, context,
                           prompt_len);
  if (num_generated < p.min_new_tokens) {
    if (!p.ignore_eos)
      for (int32_t e : p.eos_token_ids)
        if (e >= 0 && e < vocab) logits[e] = kNegInf;
    for (int32_t e : p.stop_token_ids)
      if (e >= 0 && e < vocab) logits[e] = kNegInf;
  }
}

}  // namespace kiln::runtime
