// Logits processors on the host, in Hugging Face's order, applied to one row of fp32 logits before
// any sampling warper (temperature, top-k, top-p, min-p live in sampler.cc) or beam scoring:
//   1. repetition penalty over the whole context (prompt + generated), HF's
//      RepetitionPenaltyLogitsProcessor: a seen token's logit is divided by the penalty when
//      positive, multiplied when negative; each distinct token once;
//   2. presence / frequency penalties over the generated tokens only (OpenAI/vLLM semantics):
//      logit -= presence * (count > 0) + frequency * count; HF has no such processor, and vLLM
//      applies them after the repetition penalty, so they go here;
//   3. the min-new-tokens mask (HF MinNewTokensLengthLogitsProcessor, extended like vLLM's
//      min_tokens to stop_token_ids): eos_token_ids (unless ignore_eos, as vLLM) and
//      stop_token_ids get -inf while num_generated < min_new_tokens.
// Token ids outside [0, vocab) in the context (prompt-embedding rows) are ignored. No allocation
// proportional to the vocabulary: penalties work on sorted copies of the (short) token lists.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

// logits [vocab] is modified in place. context: prompt + generated tokens so far; the generated
// ones are context[prompt_len:] (presence/frequency penalties). num_generated drives the
// min-new-tokens mask (it equals context.size() - prompt_len for decoder-only requests; an
// encoder-decoder request may pass its decoder prompt as the context).
void apply_logits_processors(float* logits /*[vocab]*/, int64_t vocab, const SamplingParams& p,
                             const std::vector<int32_t>& context /*prompt + generated*/,
                             int64_t prompt_len, int64_t num_generated);

}  // namespace kiln::runtime
