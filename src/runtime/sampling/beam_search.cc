#include "runtime/sampling/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/check.h"
#include "ops/cpu/kernels.h"
#include "runtime/sampling/logits_processors.h"

namespace kiln::runtime {
namespace {

// HF's "very large negative value" (fp32; adding it to a score of magnitude < 32 gives exactly it).
constexpr float kNeg = -1.0e9f;

// torch.topk ranks NaN above everything; mapping it to +inf keeps the ordering strict-weak.
inline float rank_key(float v) {
  return std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
}

// HF divides an fp32 tensor by the Python float len ** length_penalty; torch rounds that divisor to
// fp32 first (checked bit for bit against torch's CPU kernel).
inline float length_divisor(int64_t len, double length_penalty) {
  return static_cast<float>(std::pow(static_cast<double>(len), length_penalty));
}

// a ranks before b: higher score, then lower index.
template <class Candidate>
inline bool before(const Candidate& a, const Candidate& b) {
  const float ka = rank_key(a.score), kb = rank_key(b.score);
  return ka > kb || (ka == kb && a.index < b.index);
}

// Indices of the best k of scores[0, n), best first, ties to the lower index (a stable top-k).
std::vector<int> top_indices(const std::vector<float>& scores, int k) {
  std::vector<int> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int a, int b) { return rank_key(scores[a]) > rank_key(scores[b]); });
  idx.resize(std::min<size_t>(idx.size(), static_cast<size_t>(k)));
  return idx;
}

}  // namespace

BeamParams BeamParams::from(const SamplingParams& p, int64_t prompt_len) {
  BeamParams b;
  b.num_beams = p.num_beams;
  b.length_penalty = p.length_penalty;
  b.early_stopping = p.early_stopping;
  b.num_return_sequences = p.num_return_sequences;
  b.eos_token_ids = p.eos_token_ids;
  b.stop_token_ids = p.stop_token_ids;
  b.max_new_tokens = p.resolve_max_new(prompt_len);
  return b;
}

BeamSearch::BeamSearch(const BeamParams& params, int64_t vocab) : params_(params), vocab_(vocab) {
  const int nb = params_.num_beams;
  KILN_CHECK(nb >= 1, "num_beams must be >= 1, got {}", nb);
  KILN_CHECK(params_.num_return_sequences >= 1 && params_.num_return_sequences <= nb,
             "num_return_sequences must be in [1, num_beams = {}], got {}", nb,
             params_.num_return_sequences);
  KILN_CHECK(params_.early_stopping >= 0 && params_.early_stopping <= 2,
             "early_stopping must be 0 (False), 1 (True) or 2 (\"never\"), got {}",
             params_.early_stopping);
  KILN_CHECK(std::isfinite(params_.length_penalty), "length_penalty must be finite");
  KILN_CHECK(params_.max_new_tokens >= 1, "beam search needs max_new_tokens >= 1, got {}",
             params_.max_new_tokens);
  keep_ = candidates_kept(nb, params_.eos_token_ids.size());
  KILN_CHECK(vocab_ * nb >= keep_,
             "beam search keeps {} candidates per step but {} beams x vocabulary {} has fewer",
             keep_, nb, vocab_);
  running_.resize(nb);
  for (int b = 1; b < nb; ++b) running_[b].score = kNeg;  // HF: only the first copy is live
  finished_.resize(nb);
}

int BeamSearch::num_running() const {
  if (done_) return 0;
  return steps_ == 0 ? 1 : params_.num_beams;
}

const std::vector<int32_t>& BeamSearch::running_tokens(int i) const {
  KILN_CHECK(i >= 0 && i < num_running(), "running beam {} out of range [0, {})", i, num_running());
  return running_[i].tokens;
}

bool BeamSearch::is_stop(int32_t t) const {
  const auto in = [t](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), t) != ids.end();
  };
  return in(params_.eos_token_ids) || in(params_.stop_token_ids);
}

BeamSearch::Step BeamSearch::step(const float* logprobs, int num_rows) {
  KILN_CHECK(!done_, "beam search step after the group finished");
  KILN_CHECK(num_rows == num_running(), "beam search step got {} rows, expected {}", num_rows,
             num_running());
  const int nb = params_.num_beams;

  // 1-2. Top K candidates over all beams: a bounded heap whose top is the worst kept one.
  std::vector<Candidate> heap;
  heap.reserve(keep_);
  for (int b = 0; b < nb; ++b) {
    const float* row = logprobs + static_cast<int64_t>(running_[b].row) * vocab_;  // [vocab]
    const float s = running_[b].score;
    for (int64_t t = 0; t < vocab_; ++t) {
      const float v = row[t] + s;
      // Fast rejection: below the worst kept score (NaN compares false and takes the full path).
      if (static_cast<int>(heap.size()) == keep_ && v < heap.front().score) continue;
      const Candidate c{v, b * vocab_ + t};
      if (static_cast<int>(heap.size()) < keep_) {
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end(), before<Candidate>);
      } else if (before(c, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), before<Candidate>);
        heap.back() = c;
        std::push_heap(heap.begin(), heap.end(), before<Candidate>);
      }
    }
  }
  std::sort_heap(heap.begin(), heap.end(), before<Candidate>);  // best first
  return advance(heap);
}

std::optional<BeamSearch::Step> BeamSearch::step_sparse(const float* logprobs,
                                                        const int32_t* tokens, int k,
                                                        int num_rows) {
  KILN_CHECK(!done_, "beam search step after the group finished");
  KILN_CHECK(num_rows == num_running(), "beam search step got {} rows, expected {}", num_rows,
             num_running());
  const int nb = params_.num_beams;
  KILN_CHECK(k >= 1 && k <= vocab_ && static_cast<int64_t>(k) * nb >= keep_,
             "beam search: {} candidates per row for {} beams (K = {}, vocabulary {})", k, nb,
             keep_, vocab_);
  std::vector<Candidate> cand;
  cand.reserve(static_cast<size_t>(nb) * k);
  for (int b = 0; b < nb; ++b) {
    const int64_t row = static_cast<int64_t>(running_[b].row) * k;
    const float s = running_[b].score;
    for (int j = 0; j < k; ++j)
      cand.push_back({logprobs[row + j] + s, b * vocab_ + tokens[row + j]});
  }
  std::partial_sort(cand.begin(), cand.begin() + keep_, cand.end(), before<Candidate>);
  cand.resize(keep_);
  if (k < vocab_) {
    const Candidate& w = cand.back();
    const float wk = rank_key(w.score);
    for (int b = 0; b < nb; ++b) {
      const int64_t last = static_cast<int64_t>(running_[b].row) * k + (k - 1);
      const float lp = logprobs[last], s = running_[b].score;
      if (std::isnan(lp)) return std::nullopt;
      const float at = rank_key(lp + s);  // the missing tokens with lp == last (higher ids)
      const float below = rank_key(std::nextafter(lp, -std::numeric_limits<float>::infinity()) + s);
      if (!(below < wk)) return std::nullopt;
      if (at < wk) continue;
      if (at == wk && b * vocab_ + tokens[last] >= w.index) continue;
      return std::nullopt;
    }
  }
  return advance(cand);
}

BeamSearch::Step BeamSearch::advance(const std::vector<Candidate>& cand) {
  const int nb = params_.num_beams;
  const int64_t n_gen = steps_ + 1;  // generated length of this step's candidates
  const int k = static_cast<int>(cand.size());
  std::vector<int> beam(k);
  std::vector<int32_t> token(k);
  std::vector<bool> hits(k);
  bool all_hit = true;
  for (int i = 0; i < k; ++i) {
    beam[i] = static_cast<int>(cand[i].index / vocab_);
    token[i] = static_cast<int32_t>(cand[i].index % vocab_);
    hits[i] = is_stop(token[i]) || n_gen >= params_.max_new_tokens;
    all_hit = all_hit && hits[i];
  }

  // 3. Next running beams: the best candidates, those that hit a stopping criterion pushed down.
  std::vector<float> run_score(k);
  for (int i = 0; i < k; ++i) run_score[i] = hits[i] ? cand[i].score + kNeg : cand[i].score;
  const std::vector<int> next = top_indices(run_score, nb);

  // 4. Finished hypotheses: only the top num_beams candidates that hit may enter.
  bool all_finished = true;
  for (const Finished& f : finished_) all_finished = all_finished && f.finished;
  const float div = length_divisor(n_gen, params_.length_penalty);
  std::vector<float> merged(nb + k);
  for (int j = 0; j < nb; ++j) merged[j] = finished_[j].score;
  for (int i = 0; i < k; ++i) {
    float f = cand[i].score / div;
    if (all_finished && params_.early_stopping == 1) f += kNeg;  // HF adds these one by one
    if (!improvable_) f += kNeg;
    if (!(hits[i] && i < nb)) f += kNeg;
    merged[nb + i] = f;
  }
  std::vector<Finished> fin(nb);
  const std::vector<int> best = top_indices(merged, nb);
  for (int j = 0; j < nb; ++j) {
    const int m = best[j];
    if (m < nb) {
      fin[j] = finished_[m];
    } else {
      const int i = m - nb;
      fin[j].score = merged[m];
      fin[j].tokens = running_[beam[i]].tokens;
      fin[j].tokens.push_back(token[i]);
      fin[j].finished = hits[i] && i < nb;
    }
  }

  Step out;
  std::vector<Beam> run(nb);
  for (int j = 0; j < nb; ++j) {
    const int i = next[j];
    run[j].score = run_score[i];
    run[j].tokens = running_[beam[i]].tokens;
    run[j].tokens.push_back(token[i]);
    run[j].row = j;
    out.parent.push_back(running_[beam[i]].row);
    out.token.push_back(token[i]);
  }
  running_ = std::move(run);
  finished_ = std::move(fin);
  ++steps_;

  // 5. Early-stop heuristic (sticky): can the best running beam still beat the worst finished?
  const bool never = params_.early_stopping == 2 && params_.length_penalty > 0.0;
  const float best_possible =
      running_[0].score /
      length_divisor(never ? params_.max_new_tokens : n_gen, params_.length_penalty);
  float worst = finished_[0].score;
  all_finished = true;
  for (const Finished& f : finished_) {
    worst = std::min(worst, f.score);
    all_finished = all_finished && f.finished;
  }
  bool can_improve = false;
  for (const Finished& f : finished_) can_improve |= best_possible > (f.finished ? worst : kNeg);
  improvable_ = improvable_ && can_improve;

  done_ = !improvable_ || (all_finished && params_.early_stopping == 1) || all_hit;
  if (done_) return {};
  return out;
}

std::vector<BeamSearch::Hypothesis> BeamSearch::finalize() const {
  KILN_CHECK(done_, "beam search finalize before the group finished");
  std::vector<Hypothesis> out;
  for (int j = 0; j < params_.num_return_sequences; ++j)
    out.push_back({finished_[j].tokens, static_cast<double>(finished_[j].score)});
  return out;
}

// The op's CPU twin and the host path share one implementation (ops::beam_candidates).
void log_softmax_row(float* row, int64_t vocab) { ops::cpu::log_softmax_row(row, vocab); }

void beam_logprobs(float* row, int64_t vocab, const SamplingParams& params,
                   const std::vector<int32_t>& context, int64_t prompt_len,
                   const std::vector<int32_t>* encoder_ids) {
  log_softmax_row(row, vocab);
  apply_logits_processors(row, vocab, params, context, prompt_len,
                          static_cast<int64_t>(context.size()) - prompt_len, encoder_ids);
}

}  // namespace kiln::runtime
