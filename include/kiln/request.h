// kiln public API: what a caller sends (Request, SamplingOptions) and what comes back while it runs
// (RequestUpdate). Every SamplingOptions field left unset takes the model's default from its
// generation_config.json (HF semantics), so a bare Request behaves like HF `generate()`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

enum class EarlyStopping { kFalse, kTrue, kNever };  // HF `early_stopping` (beam search)

struct SamplingOptions {
  // Length. HF rule when max_new_tokens is unset: generate up to max_length - prompt_len tokens.
  std::optional<int64_t> max_new_tokens;
  std::optional<int64_t> min_new_tokens;  // end tokens and stop strings are ignored before this

  // Choice of the next token. do_sample=false is greedy (argmax).
  std::optional<bool> do_sample;
  std::optional<float> temperature;         // > 0
  std::optional<int64_t> top_k;             // 0 disables
  std::optional<float> top_p;               // (0, 1]
  std::optional<float> min_p;               // [0, 1]; 0 disables
  std::optional<float> repetition_penalty;  // HF's multiplicative penalty, > 0
  std::optional<float> presence_penalty;    // OpenAI's additive penalties, [-2, 2]
  std::optional<float> frequency_penalty;
  std::optional<uint64_t> seed;             // per request: batched == alone

  // Stopping. Generation ends after an end token (the model's eos_token_id unless ignore_eos),
  // any of stop_token_ids, or when the text contains any of stop (the stop string itself is
  // removed from the text unless include_stop_str_in_output).
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;

  int logprobs = -1;  // -1: none; N >= 0: the chosen token's logprob + the top-N alternatives
  int n = 1;          // independent samples of the same prompt (they share its KV blocks)

  // Beam search (num_beams > 1; greedy beams, HF generate(num_beams=k) semantics).
  std::optional<int> num_beams;
  std::optional<float> length_penalty;
  std::optional<EarlyStopping> early_stopping;
  std::optional<int> num_return_sequences;  // <= num_beams; default 1 (n is its alias for beams)

  // HF generation_config constraints (host-side logits processors, HF's order and semantics).
  // "The sequence" is the prompt + generated tokens (encoder-decoder: the decoder tokens, from the
  // start token). An id of -1 or an empty list disables the model's default.
  std::optional<int32_t> decoder_start_token_id;       // encoder-decoder: first decoder token
  std::optional<int64_t> no_repeat_ngram_size;         // 0 disables
  std::optional<int64_t> encoder_no_repeat_ngram_size;  // 0 disables; n-grams of the encoder input
  std::optional<std::vector<std::vector<int32_t>>> bad_words_ids;  // token sequences never produced
  std::optional<int64_t> min_length;  // end tokens banned while the sequence is shorter (HF:
                                      // ignored when min_new_tokens > 0)
  std::optional<int32_t> forced_bos_token_id;                // first generated token (mBART)
  std::optional<std::vector<int32_t>> forced_eos_token_id;   // forced as the last token
  std::optional<std::vector<int32_t>> suppress_tokens;       // never generated
  std::optional<std::vector<int32_t>> begin_suppress_tokens;  // not as the first generated token
};

struct Request {
  // [prompt_len], ids in [0, vocab_size). Encoder–decoder models: the encoder input.
  std::vector<int32_t> prompt_ids;
  SamplingOptions sampling;
  bool detokenize = true;           // fill text fields (needs the model's tokenizer)
  bool skip_special_tokens = true;
  // Encoder–decoder models only: the decoder's first tokens (empty: [decoder_start_token_id]).
  std::vector<int32_t> decoder_prompt_ids;
};

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.f;
};

// New output of one returned sequence (index in [0, n) or [0, num_return_sequences)).
struct SequenceDelta {
  int index = 0;
  std::vector<int32_t> token_ids;  // tokens generated since the previous update
  std::string text;                // their text, UTF-8 complete (held back until whole)
  std::vector<float> logprobs;     // [token_ids.size()] when logprobs >= 0
  std::vector<std::vector<TokenLogprob>> top_logprobs;  // [token_ids.size()][N]
  std::optional<std::string> finish_reason;  // "stop" | "length" | "cancelled" once finished
  std::optional<double> score;               // beam search: the hypothesis score (HF)
};

struct RequestUpdate {
  std::vector<SequenceDelta> sequences;  // only sequences with news
  bool finished = false;                 // the last update of the request
  std::optional<std::string> error;      // set when the request failed inside the engine
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;          // over all sequences, so far
};

}  // namespace kiln
