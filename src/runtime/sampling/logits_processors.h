// Logits processors on the host, applied to one row of fp32 logits (or, for beam search, of
// log-probs) before any sampling warper (temperature, top-k, top-p, min-p live in sampler.cc) or
// beam scoring, in exactly the order of transformers' GenerationMixin._get_logits_processor (5.x):
//   1. repetition penalty over the whole sequence, HF's RepetitionPenaltyLogitsProcessor: a seen
//      token's logit is divided by the penalty when positive, multiplied when negative; each
//      distinct token once;
//   2. presence / frequency penalties over the generated tokens only (OpenAI/vLLM semantics):
//      logit -= presence * (count > 0) + frequency * count; HF has no such processor, and vLLM
//      applies them after the repetition penalty, so they go here;
//   3. no_repeat_ngram_size (NoRepeatNGramLogitsProcessor): a token that would complete an n-gram
//      already present in the sequence gets -inf;
//   4. encoder_no_repeat_ngram_size (EncoderNoRepeatNGramLogitsProcessor): a token that would
//      complete (with the sequence's last n-1 tokens) an n-gram of the encoder ids gets -inf;
//   5. bad_words_ids (NoBadWordsLogitsProcessor): single-token entries always get -inf (except an
//      entry that is exactly one eos id, which HF drops); a longer entry bans its last token when
//      the sequence ends with the rest of it;
//   6. min_length (MinLengthLogitsProcessor): end ids get -inf while the sequence is shorter than
//      min_length (HF replaces min_length by prompt + min_new_tokens when min_new_tokens is set,
//      so it applies only while min_new_tokens == 0);
//   7. the min-new-tokens mask (HF MinNewTokensLengthLogitsProcessor): end ids get -inf while
//      num_generated < min_new_tokens;
//      (6 and 7, extended like vLLM's min_tokens: the end ids are eos_token_ids unless ignore_eos,
//      and stop_token_ids;)
//   8. forced_bos_token_id (ForcedBOSTokenLogitsProcessor): when the sequence has exactly 1 token,
//      every logit becomes -inf except the forced one, which becomes 0;
//   9. forced_eos_token_id (ForcedEOSTokenLogitsProcessor): likewise with the eos ids when the
//      sequence has max_length - 1 tokens, max_length = prompt_len + resolve_max_new(prompt_len);
//  10. suppress_tokens (SuppressTokensLogitsProcessor): always -inf;
//  11. begin_suppress_tokens (SuppressTokensAtBeginLogitsProcessor): -inf when the sequence has
//      begin_index tokens, begin_index = prompt_len, + 1 when prompt_len == 1 and a forced BOS is
//      set (HF's rule).
// "The sequence" is HF's input_ids: prompt + generated for a decoder-only model; for an
// encoder-decoder model the decoder tokens (decoder_start_token_id, any decoder prompt,
// generated), with prompt_len the decoder prompt's length (1 for a bare start token).
// Token ids outside [0, vocab) in the sequence (prompt-embedding rows) are ignored. No allocation
// proportional to the vocabulary: penalties work on sorted copies of the (short) token lists.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

// logits [vocab] is modified in place. context: the sequence (see above); the generated tokens
// are context[prompt_len:] (presence/frequency penalties). num_generated drives the
// min-new-tokens mask and equals context.size() - prompt_len. encoder_ids: an encoder-decoder
// request's encoder input ids (encoder_no_repeat_ngram_size); null for a decoder-only request,
// whose prompt context[:prompt_len] then plays that role (HF passes the prompt as
// encoder_input_ids to decoder-only models).
void apply_logits_processors(float* logits /*[vocab]*/, int64_t vocab, const SamplingParams& p,
                             const std::vector<int32_t>& context /*prompt + generated*/,
                             int64_t prompt_len, int64_t num_generated,
                             const std::vector<int32_t>* encoder_ids /*[enc_len]*/ = nullptr);

}  // namespace kiln::runtime
