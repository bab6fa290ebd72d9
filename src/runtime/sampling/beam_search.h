// Beam search bookkeeping for one request (a beam group), with exactly Hugging Face's
// generate(num_beams=k, do_sample=False) semantics (transformers 5.x `_beam_search`): the step loop
// hands in the processed log-prob rows of the group's running beams and gets back which beams run
// next (parent row + token each); finished hypotheses are kept here with HF's length-penalised
// scores. The group is host state only: the caller owns the sequences, their KV blocks (a child
// forks its parent's blocks) and the forward pass; this class owns the scores, each running beam's
// generated tokens and the finished hypotheses.
//
// HF's algorithm, per step (all scores fp32, as HF computes them):
//   1. every running beam i adds its score to its row: cand = logprob[i][t] + score[i];
//   2. keep the top K = max(2, 1 + #eos ids) * num_beams candidates over all beams and tokens;
//   3. a candidate "hits a stopping criterion" if its token is an eos (or stop) id or it reaches
//      max_new_tokens; the next running beams are the best num_beams candidates, with those that
//      hit pushed down by -1e9 (so, normally, the best non-finished ones);
//   4. only candidates among the top num_beams of the K that hit become finished hypotheses, scored
//      cand / num_generated^length_penalty; the finished set keeps the best num_beams;
//   5. the group is done when no running beam can beat the worst finished one (the early-stop
//      heuristic: with early_stopping False it assumes the best score comes at the current length;
//      with "never" and length_penalty > 0 at max_new_tokens), or when num_beams hypotheses are
//      finished and early_stopping is True, or when every candidate of the step hit a stopping
//      criterion (max length).
// HF starts with num_beams copies of the prompt scored 0, -1e9, -1e9, ...; here the prompt is one
// row (prefilled once) standing for all of them, which gives the same candidates.
// Ties between equal scores go to the lower index (beam-major, then token; finished hypotheses
// before new ones); torch.topk leaves that order unspecified.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

struct BeamParams {
  int num_beams = 1;
  double length_penalty = 1.0;   // exponent on the generated length (incl. eos) in final scores
  int early_stopping = 0;        // 0: False, 1: True, 2: "never" (HF's three values)
  int num_return_sequences = 1;  // <= num_beams
  std::vector<int32_t> eos_token_ids;   // HF's eos_token_id list (its size sets K)
  std::vector<int32_t> stop_token_ids;  // extra ids that end a hypothesis (vLLM's); not in K
  int64_t max_new_tokens = 0;           // HF max_length - prompt length; >= 1

  // From a request's parameters; max_new_tokens resolved for a prompt of prompt_len tokens.
  static BeamParams from(const SamplingParams& p, int64_t prompt_len);
};

class BeamSearch {
 public:
  // Throws kiln::Error on out-of-range parameters.
  BeamSearch(const BeamParams& params, int64_t vocab);

  // The next running set: running beam i continues row parent[i] of the rows given to step()
  // with token[i]. Empty once the group is done.
  struct Step {
    std::vector<int> parent;     // [num_beams] rows of the previous running set
    std::vector<int32_t> token;  // [num_beams] token appended to that row's sequence
  };

  // logprobs: [num_running(), vocab] processed log-prob rows (see beam_logprobs), row i = running
  // beam i. Must not be called once done().
  Step step(const float* logprobs, int num_rows);

  // The same step from per-row candidate lists instead of dense rows (ops::beam_candidates):
  // logprobs/tokens [num_rows, k], row i's k best processed log-probs and their tokens, best
  // first by (log-prob desc, NaN first; token asc); k <= vocab. Returns exactly what step() on the
  // dense rows would (bit for bit), or nullopt, changing nothing, when the lists cannot prove it;
  // then call step() with the dense rows.
  //   Why it is exact: the step keeps the best K of cand = fl(logprob + score[beam]) by (cand
  // desc, beam * vocab + token asc). Rounding is monotone, so a beam's tokens missing from its
  // list (logprob below the list's last, or equal to it with a higher token) have cand <=
  // fl(last + score); the K best of the lists' union is the dense answer iff none of them ranks
  // before the union's K-th, W. That holds for a beam when fl(next_below(last) + score) < W (the
  // strictly smaller log-probs) and fl(last + score) < W, or == W with the list's last at or after
  // W's index (the equal log-probs, which have higher tokens). Rounding can tie candidates from
  // different log-probs (fl(a + s) == fl(b + s), a > b), which is why k == K alone is not enough;
  // a k above K (e.g. 2K) makes the fallback rare. Full lists (k == vocab) always pass.
  std::optional<Step> step_sparse(const float* logprobs, const int32_t* tokens, int k,
                                  int num_rows);

  // K, the candidates kept per step: max(2, 1 + #eos ids) * num_beams.
  int candidates_kept() const { return keep_; }
  static int candidates_kept(int num_beams, size_t num_eos) {
    return std::max(2, 1 + static_cast<int>(num_eos)) * num_beams;
  }

  // Rows step() expects next: 1 before the first step (the prompt), then num_beams; 0 when done.
  int num_running() const;
  bool done() const { return done_; }
  int64_t num_steps() const { return steps_; }
  // Generated tokens of running beam i (what the processors' context needs after the prompt).
  const std::vector<int32_t>& running_tokens(int i) const;

  struct Hypothesis {
    std::vector<int32_t> tokens;  // generated tokens only, including the eos that ended it
    double score;                 // HF sequences_scores: sum of logprobs / len^length_penalty
  };
  // The best num_return_sequences hypotheses, best first (HF's order). Call when done().
  std::vector<Hypothesis> finalize() const;

 private:
  struct Beam {
    float score = 0.f;
    std::vector<int32_t> tokens;  // generated tokens
    int row = 0;                  // row of this beam in the logprobs given to the next step()
  };
  struct Finished {
    float score = -1.0e9f;
    std::vector<int32_t> tokens;
    bool finished = false;  // HF's is_sent_finished: a real hypothesis, not a placeholder
  };
  struct Candidate {
    float score;    // accumulated log-prob
    int64_t index;  // beam * vocab + token: torch.topk's flat index, the tie-break
  };
  bool is_stop(int32_t t) const;  // an eos or stop id
  // Steps 2 (from the K best candidates, best first) to 5 of the algorithm.
  Step advance(const std::vector<Candidate>& cand);

  BeamParams params_;
  int64_t vocab_;
  int keep_;                        // K: candidates kept per step
  std::vector<Beam> running_;       // [num_beams]
  std::vector<Finished> finished_;  // [num_beams], best first
  bool improvable_ = true;          // HF's is_early_stop_heuristic_unsatisfied (sticky)
  bool done_ = false;
  int64_t steps_ = 0;
};

// One row as HF's beam search sees it: log_softmax of the fp32 logits, then the logits processors
// (runtime/sampling/logits_processors.h, in HF's order: repetition penalty, n-gram and bad-words
// bans, min-length masks, forced BOS/EOS, suppressed tokens, ...) on the log-probs, not
// renormalised (a forced token scores 0). row: [vocab], in place. context: prompt + this beam's
// generated tokens (encoder-decoder: the decoder tokens, prompt_len the decoder prompt's length).
// encoder_ids: an encoder-decoder request's encoder input ids, else null.
void beam_logprobs(float* row, int64_t vocab, const SamplingParams& params,
                   const std::vector<int32_t>& context, int64_t prompt_len,
                   const std::vector<int32_t>* encoder_ids /*[enc_len]*/ = nullptr);

// log_softmax of one fp32 row in place: x - max - log(sum(exp(x - max))).
void log_softmax_row(float* row, int64_t vocab);

}  // namespace kiln::runtime
