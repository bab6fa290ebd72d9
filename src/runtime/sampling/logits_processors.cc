#include "runtime/sampling/logits_processors.h"

#include <algorithm>
#include <limits>

namespace kiln::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline bool in_vocab(int64_t t, int64_t vocab) { return t >= 0 && t < vocab; }

// Sorted copy of the in-vocabulary ids of [first, last).
std::vector<int32_t> sorted_ids(std::vector<int32_t>::const_iterator first,
                                std::vector<int32_t>::const_iterator last, int64_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(last - first));
  for (auto it = first; it != last; ++it)
    if (in_vocab(*it, vocab)) ids.push_back(*it);
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

// Bans every token that follows, somewhere in `source`, an occurrence of the last n - 1 tokens of
// `seq` (the n-gram it would complete already exists in source). HF's NoRepeatNGram (source =
// seq: windows of n tokens, the one ending at seq's end needs a token more than seq has) and
// EncoderNoRepeatNGram (source = encoder ids). n == 1 bans every token of source.
void ban_ngram_completions(float* logits, int64_t vocab, int64_t n,
                           const std::vector<int32_t>& seq, const std::vector<int32_t>& source) {
  const int64_t len = static_cast<int64_t>(seq.size());
  const int64_t src = static_cast<int64_t>(source.size());
  if (n <= 0 || len < n - 1 || src < n) return;
  const int32_t* prefix = seq.data() + (len - (n - 1));  // [n - 1]
  for (int64_t i = 0; i + n <= src; ++i) {
    if (!std::equal(prefix, prefix + (n - 1), source.data() + i)) continue;
    const int32_t t = source[i + n - 1];
    if (in_vocab(t, vocab)) logits[t] = kNegInf;
  }
}

// HF NoBadWordsLogitsProcessor (a SequenceBiasLogitsProcessor with -inf biases).
void apply_bad_words(float* logits, int64_t vocab, const SamplingParams& p,
                     const std::vector<int32_t>& seq) {
  const int64_t len = static_cast<int64_t>(seq.size());
  for (const std::vector<int32_t>& w : p.bad_words_ids) {
    if (w.empty()) continue;
    const int32_t last = w.back();
    if (!in_vocab(last, vocab)) continue;
    if (w.size() == 1) {
      // HF drops single-token entries equal to an eos id (the model must be able to stop).
      if (std::find(p.eos_token_ids.begin(), p.eos_token_ids.end(), last) != p.eos_token_ids.end())
        continue;
      logits[last] = kNegInf;
      continue;
    }
    const int64_t pre = static_cast<int64_t>(w.size()) - 1;
    if (pre > len) continue;  // HF: a prefix longer than the sequence is ignored
    if (std::equal(w.begin(), w.end() - 1, seq.end() - pre)) logits[last] = kNegInf;
  }
}

void ban_end_ids(float* logits, int64_t vocab, const SamplingParams& p) {
  for (int32_t e : p.end_ids())
    if (in_vocab(e, vocab)) logits[e] = kNegInf;
}

// Every logit -inf except the forced ids, which become 0 (HF's ForcedBOS/ForcedEOS).
void force(float* logits, int64_t vocab, const std::vector<int32_t>& ids) {
  std::fill(logits, logits + vocab, kNegInf);
  for (int32_t t : ids)
    if (in_vocab(t, vocab)) logits[t] = 0.f;
}

}  // namespace

void apply_logits_processors(float* logits, int64_t vocab, const SamplingParams& p,
                             const std::vector<int32_t>& context, int64_t prompt_len,
                             int64_t num_generated, const std::vector<int32_t>* encoder_ids) {
  const int64_t cur_len = static_cast<int64_t>(context.size());
  apply_repetition_penalty(logits, vocab, p.repetition_penalty, context);
  apply_presence_frequency(logits, vocab, p.presence_penalty, p.frequency_penalty, context,
                           prompt_len);
  if (p.no_repeat_ngram_size > 0)
    ban_ngram_completions(logits, vocab, p.no_repeat_ngram_size, context, context);
  if (p.encoder_no_repeat_ngram_size > 0) {
    if (encoder_ids) {
      ban_ngram_completions(logits, vocab, p.encoder_no_repeat_ngram_size, context, *encoder_ids);
    } else {
      const int64_t pl = std::clamp<int64_t>(prompt_len, 0, cur_len);
      const std::vector<int32_t> prompt(context.begin(), context.begin() + pl);
      ban_ngram_completions(logits, vocab, p.encoder_no_repeat_ngram_size, context, prompt);
    }
  }
  if (!p.bad_words_ids.empty()) apply_bad_words(logits, vocab, p, context);
  if (p.min_length_active() && cur_len < p.min_length) ban_end_ids(logits, vocab, p);
  if (num_generated < p.min_new_tokens) ban_end_ids(logits, vocab, p);
  if (p.forced_bos_token_id >= 0 && cur_len == 1) force(logits, vocab, {p.forced_bos_token_id});
  if (!p.forced_eos_token_ids.empty() &&
      cur_len == prompt_len + p.resolve_max_new(prompt_len) - 1)
    force(logits, vocab, p.forced_eos_token_ids);
  for (int32_t t : p.suppress_tokens)
    if (in_vocab(t, vocab)) logits[t] = kNegInf;
  if (!p.begin_suppress_tokens.empty()) {
    const int64_t begin_index = prompt_len + (prompt_len <= 1 && p.forced_bos_token_id >= 0);
    if (cur_len == begin_index)
      for (int32_t t : p.begin_suppress_tokens)
        if (in_vocab(t, vocab)) logits[t] = kNegInf;
  }
}

}  // namespace kiln::runtime
