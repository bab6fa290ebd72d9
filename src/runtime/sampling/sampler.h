// Next-token choice on the host from one row of fp32 logits. First HF's logits processors
// (logits_processors.h: repetition penalty, presence/frequency penalties, n-gram and bad-words
// bans, min-length masks, forced BOS/EOS, suppressed tokens, in HF's order);
// greedy then takes the first maximum, as torch.argmax does. Sampling applies HF's warpers in the
// order of transformers' _get_logits_processor — temperature, top-k, top-p, min-p — then softmax
// and a draw from the request's own seeded generator (so batched == alone holds for sampling too).
//
// Logprobs (OpenAI `logprobs` / vLLM SamplingParams.logprobs) are vLLM's default "raw logprobs":
// log_softmax of the model's logits as they came in, before any processor, penalty or temperature.
// They describe the model, not the sampling policy, so they are the same for greedy, sampled and
// beam rows and for the GPU and CPU samplers (the executor may compute them for GPU-sampled rows
// with token_logprobs on a copy of the row).
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

struct TokenLogprobs {
  int32_t token = -1;  // the chosen token
  float logprob = 0.f;  // its raw log-probability
  int64_t rank = 0;     // 1 + number of tokens with a strictly larger raw logit (vLLM's rank)
  std::vector<std::pair<int32_t, float>> top;  // [min(N, vocab)] (token, logprob), most likely
                                               // first; equal logprobs: lower id first
};

// Raw logprobs of `token` and the top_n most likely tokens of one row of logits [vocab]
// (log_softmax in double, returned as float). top_n <= 0 leaves `top` empty.
TokenLogprobs token_logprobs(const float* logits /*[vocab]*/, int64_t vocab, int32_t token,
                             int top_n);

// logits [vocab] is modified in place. context: prompt + generated tokens so far; the last
// num_generated of them are the generated ones.
int32_t choose_token(float* logits /*[vocab]*/, int64_t vocab, const SamplingParams& params,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng);

// Same choice (identical tokens and generator use); when logprobs is non-null it receives the
// chosen token's raw logprob and the top max(params.logprobs, 0) alternatives. encoder_ids: an
// encoder-decoder request's encoder input ids (for encoder_no_repeat_ngram_size; context is then
// its decoder tokens), null for decoder-only requests (see apply_logits_processors).
int32_t choose_token(float* logits /*[vocab]*/, int64_t vocab, const SamplingParams& params,
                     const std::vector<int32_t>& context, int64_t num_generated,
                     std::mt19937_64& rng, TokenLogprobs* logprobs,
                     const std::vector<int32_t>* encoder_ids /*[enc_len]*/ = nullptr);

}  // namespace kiln::runtime
