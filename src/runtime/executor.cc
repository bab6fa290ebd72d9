#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "core/check.h"
#include "ops/ops.h"
#include "runtime/output/sequence_output.h"
#include "runtime/sampling/beam_search.h"
#include "runtime/sampling/logits_processors.h"
#include "runtime/sampling/sampler.h"

namespace kiln::runtime {
namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Rows the GPU sampling kernel cannot serve go to the host sampler (the oracle).
bool needs_host_sampling(const RequestState& r) {
  const SamplingParams& p = r.params;
  return r.is_beam() || p.logprobs >= 0 || p.min_p > 0.f || p.presence_penalty != 0.f ||
         p.frequency_penalty != 0.f || (r.width() > 1 && !r.forked) || p.needs_host_processors() ||
         !DeviceStep::can_ban_end_ids(p);
}

// Whether the host processors would ban the end ids of a row whose sequence is `context` (the
// min-length / min-new-tokens masks): asked of apply_logits_processors itself, on a one-token
// vocabulary whose only end id is token 0, so the rule lives in one place. For requests whose
// other processors are all off (Executor::beam_on_device).
bool end_ids_masked(const SamplingParams& p, const std::vector<int32_t>& context,
                    int64_t prompt_len) {
  SamplingParams probe = p;
  probe.eos_token_ids = {0};
  probe.stop_token_ids.clear();
  probe.ignore_eos = false;
  float row = 0.f;
  apply_logits_processors(&row, 1, probe, context, prompt_len,
                          static_cast<int64_t>(context.size()) - prompt_len);
  return std::isinf(row) && row < 0.f;
}

// Candidates per row a device beam request asks for: 2K (fallbacks to the dense rows become rare,
// see BeamSearch::step_sparse), within the op's bound and the vocabulary; 0 when that leaves
// fewer than K (and not the whole vocabulary).
int64_t beam_candidates_k(const SamplingParams& p, int64_t vocab) {
  const int64_t keep = BeamSearch::candidates_kept(p.num_beams, p.eos_token_ids.size());
  const int64_t k = std::min({2 * keep, ops::kMaxBeamCandidates, vocab});
  return k >= keep || k == vocab ? k : 0;
}

// The encoder input the processors see (encoder_no_repeat_ngram_size); null: decoder-only.
const std::vector<int32_t>* encoder_ids(const Sequence& s) {
  return s.is_encoder_decoder() ? &s.encoder_tokens : nullptr;
}

// What a user counts as the prompt: the encoder input of an encoder–decoder request.
int64_t prompt_tokens(const Sequence& s) {
  return s.is_encoder_decoder() ? static_cast<int64_t>(s.encoder_tokens.size()) : s.prompt_len;
}

SequenceDelta& delta_for(RequestOutput& o, int index) {
  for (SequenceDelta& d : o.deltas)
    if (d.index == index) return d;
  o.deltas.push_back({});
  o.deltas.back().index = index;
  return o.deltas.back();
}

}  // namespace

Executor::~Executor() = default;

Executor::Executor(models::Model& model, const ExecutorOptions& options, ExecContext& ctx)
    : model_(model), options_(options), ctx_(ctx) {
  runner_ = std::make_unique<StepRunner>(model, options.runner, ctx);
  blocks_ = std::make_unique<BlockManager>(runner_->cache().blocks(), options.runner.block_size,
                                           options.prefix_caching, runner_->reserved_blocks());
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerOptions{options.runner.max_batch_size, options.runner.max_num_tokens}, *blocks_);
}

void Executor::validate(const std::vector<int32_t>& prompt, const SamplingParams& params,
                        const std::vector<int32_t>& decoder_prompt) const {
  const models::ModelSpec& spec = model_.spec();
  KILN_CHECK(!prompt.empty(), "the prompt is empty");
  const auto check_ids = [](const std::vector<int32_t>& ids, int64_t vocab, const char* what) {
    for (size_t i = 0; i < ids.size(); ++i)
      KILN_CHECK(ids[i] >= 0 && ids[i] < vocab,
                 "{}token id {} at position {} is outside the vocabulary [0, {})", what, ids[i], i,
                 vocab);
  };
  check_ids(prompt,
            spec.encoder_decoder && spec.encoder_vocab_size > 0 ? spec.encoder_vocab_size
                                                                : spec.vocab_size,
            "");
  params.validate(spec.vocab_size);
  int64_t len = static_cast<int64_t>(prompt.size()), encoder_len = 0;
  if (spec.encoder_decoder) {
    KILN_CHECK(len <= spec.max_encoder_positions,
               "the encoder input has {} tokens, longer than the model's {} encoder positions", len,
               spec.max_encoder_positions);
    const std::vector<int32_t> dec = decoder_tokens(params, decoder_prompt);
    check_ids(dec, spec.vocab_size, "decoder ");
    KILN_CHECK(len + static_cast<int64_t>(dec.size()) <= options_.runner.max_num_tokens,
               "the encoder input ({} tokens) and the decoder prompt ({}) exceed max_num_tokens "
               "({}): the encoder runs in one step",
               len, dec.size(), options_.runner.max_num_tokens);
    encoder_len = len;
    len = static_cast<int64_t>(dec.size());
  } else {
    KILN_CHECK(decoder_prompt.empty(), "a decoder prompt needs an encoder–decoder model");
  }
  KILN_CHECK(len <= spec.max_positions,
             "the prompt has {} tokens, longer than the model's {} positions", len,
             spec.max_positions);
  const int64_t max_new = params.resolve_max_new(len);
  // The last generated token is never fed back (as in HF): it needs no position.
  KILN_CHECK(len + max_new - 1 <= spec.max_positions,
             "prompt ({} tokens) + max_new_tokens ({}) exceeds the model's {} positions; lower "
             "max_new_tokens to at most {}",
             len, max_new, spec.max_positions, spec.max_positions - len + 1);
  const int64_t width = std::max(params.n, params.num_beams);
  KILN_CHECK(width <= options_.runner.max_batch_size,
             "the request needs {} sequences (n / num_beams) but max_batch_size is {}", width,
             options_.runner.max_batch_size);
  const int64_t per_seq = sequence_blocks(len + max_new, encoder_len, blocks_->block_size());
  KILN_CHECK(width * per_seq <= blocks_->num_total(),
             "the request can need {} KV blocks ({} sequence(s) x {} tokens) but the cache holds "
             "only {}; lower max_new_tokens or n, or give the KV cache more blocks",
             width * per_seq, width, len + max_new, blocks_->num_total());
  KILN_CHECK(params.stop.empty() || options_.tokenizer,
             "stop strings need the model's tokenizer, and this model has none");
}

std::vector<int32_t> Executor::decoder_tokens(const SamplingParams& params,
                                              const std::vector<int32_t>& decoder_prompt) const {
  if (!decoder_prompt.empty()) return decoder_prompt;
  // HF: decoder_start_token_id, else bos_token_id (the request's, from generation_config.json);
  // else the model config's decoder_start_token_id.
  const int32_t start =
      params.decoder_start() >= 0 ? params.decoder_start() : model_.spec().decoder_start_token_id;
  KILN_CHECK(start >= 0,
             "{} is an encoder–decoder model but neither its config nor the request gives a "
             "decoder_start_token_id",
             model_.spec().model_type);
  return {start};
}

void Executor::add_request(int64_t id, std::vector<int32_t> prompt, const SamplingParams& params,
                           bool detokenize, bool skip_special_tokens,
                           const std::vector<int32_t>& decoder_prompt) {
  validate(prompt, params, decoder_prompt);
  std::vector<int32_t> encoder_input;
  if (model_.spec().encoder_decoder) {
    encoder_input = std::move(prompt);
    prompt = decoder_tokens(params, decoder_prompt);
  }
  KILN_CHECK(!requests_.count(id), "request id {} is already in use", id);
  auto r = std::make_unique<RequestState>();
  r->id = id;
  r->arrival = next_arrival_++;
  r->params = params;
  r->max_new = params.resolve_max_new(static_cast<int64_t>(prompt.size()));
  r->detokenize = detokenize && options_.tokenizer;
  r->skip_special_tokens = skip_special_tokens;
  SeqSlot slot;
  slot.seq = std::make_unique<Sequence>();
  Sequence& s = *slot.seq;
  s.id = id;
  s.prompt_len = static_cast<int64_t>(prompt.size());
  s.tokens = std::move(prompt);
  s.encoder_tokens = std::move(encoder_input);
  s.params = params;
  s.max_new = r->max_new;
  s.rng.seed(params.seed);
  if (options_.tokenizer && (r->detokenize || !params.stop.empty()) && !r->is_beam())
    slot.out = std::make_unique<SequenceOutput>(*options_.tokenizer, s.tokens, params,
                                                skip_special_tokens);
  r->seqs.push_back(std::move(slot));
  if (r->max_new == 0) {  // nothing to generate: finishes at the next step
    r->seqs[0].seq->finished = true;
  }
  scheduler_->add(r.get());
  requests_.emplace(id, std::move(r));
}

void Executor::cancel(int64_t id) { cancels_.push_back(id); }

void Executor::fork_samples(RequestState& r) {
  const Sequence& root = *r.seqs[0].seq;
  for (int i = 1; i < r.params.n; ++i) {
    SeqSlot slot;
    slot.seq = std::make_unique<Sequence>();
    Sequence& c = *slot.seq;
    c.id = root.id;
    c.index = i;
    c.tokens = root.tokens;
    c.prompt_len = root.prompt_len;
    c.num_computed = root.num_computed;
    c.max_new = root.max_new;
    c.params = root.params;
    c.params.seed = root.params.seed + static_cast<uint64_t>(i);  // its own stream
    c.rng.seed(c.params.seed);
    blocks_->fork(root, c);
    if (r.seqs[0].out) slot.out = std::make_unique<SequenceOutput>(*r.seqs[0].out);
    r.seqs.push_back(std::move(slot));
  }
  r.forked = true;
}

void Executor::append_token(RequestState& r, SeqSlot& slot, int32_t token, const float* raw_row,
                            RequestOutput& o) {
  Sequence& s = *slot.seq;
  const SamplingParams& p = r.params;
  s.tokens.push_back(token);
  SequenceDelta& d = delta_for(o, s.index);
  d.token_ids.push_back(token);
  if (p.logprobs >= 0 && raw_row) {
    const TokenLogprobs lp = token_logprobs(raw_row, model_.spec().vocab_size, token, p.logprobs);
    d.logprobs.push_back(lp.logprob);
    std::vector<TokenLogprob> top;
    for (const auto& [id, v] : lp.top) top.push_back({id, v});
    d.top_logprobs.push_back(std::move(top));
  }
  const bool eos = !p.ignore_eos && contains(p.eos_token_ids, token);
  const bool stop_id = contains(p.stop_token_ids, token);
  bool stop_str = false;
  if (slot.out) {
    const std::string text =
        slot.out->push(token, s.num_generated() >= p.min_new_tokens, &stop_str);
    if (r.detokenize) d.text += text;
  }
  const bool length = s.num_generated() >= r.max_new;
  if (!(eos || stop_id || stop_str || length)) return;
  s.finished = true;
  d.finish_reason = (eos || stop_id || stop_str) ? "stop" : "length";
  if (slot.out && !stop_str && r.detokenize) d.text += slot.out->finish();
  blocks_->free(s);
}

BeamSearch::Step Executor::beam_step(RequestState& r, const std::vector<const float*>& rows) const {
  const int64_t vocab = model_.spec().vocab_size;
  if (!r.beam)
    r.beam =
        std::make_unique<BeamSearch>(BeamParams::from(r.params, r.seqs[0].seq->prompt_len), vocab);
  std::vector<float> lp(rows.size() * vocab);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Sequence& s = *r.seqs[i].seq;
    float* row = lp.data() + i * vocab;
    std::copy(rows[i], rows[i] + vocab, row);
    beam_logprobs(row, vocab, r.params, s.tokens, s.prompt_len, encoder_ids(s));
  }
  return r.beam->step(lp.data(), static_cast<int>(rows.size()));
}

std::optional<BeamSearch::Step> Executor::beam_step_sparse(RequestState& r, const float* logprobs,
                                                           const int32_t* tokens, int64_t k,
                                                           int num_rows) const {
  if (!r.beam)
    r.beam = std::make_unique<BeamSearch>(BeamParams::from(r.params, r.seqs[0].seq->prompt_len),
                                          model_.spec().vocab_size);
  return r.beam->step_sparse(logprobs, tokens, static_cast<int>(k), num_rows);
}

bool Executor::beam_on_device(const RequestState& r) const {
  const SamplingParams& p = r.params;
  if (!runner_->on_device() || !r.is_beam()) return false;
  // Only log_softmax and the end-id masks: every other processor stays on the host.
  if (p.repetition_penalty != 1.f || p.presence_penalty != 0.f || p.frequency_penalty != 0.f ||
      p.logprobs >= 0 || p.no_repeat_ngram_size > 0 || p.encoder_no_repeat_ngram_size > 0 ||
      !p.bad_words_ids.empty() || p.forced_bos_token_id >= 0 || !p.forced_eos_token_ids.empty() ||
      !p.suppress_tokens.empty() || !p.begin_suppress_tokens.empty())
    return false;
  if (static_cast<int64_t>(p.end_ids().size()) > DeviceStep::kMaxBeamMask) return false;
  return beam_candidates_k(p, model_.spec().vocab_size) > 0;
}

void Executor::advance_beams(RequestState& r, const BeamSearch::Step& st, RequestOutput& o) {
  std::vector<SeqSlot> next;
  for (size_t j = 0; j < st.parent.size(); ++j) {
    const Sequence& parent = *r.seqs[st.parent[j]].seq;
    SeqSlot slot;
    slot.seq = std::make_unique<Sequence>();
    Sequence& c = *slot.seq;
    c.id = parent.id;
    c.index = static_cast<int>(j);
    c.tokens = parent.tokens;
    c.tokens.push_back(st.token[j]);
    c.prompt_len = parent.prompt_len;
    c.num_computed = parent.num_computed;
    c.max_new = parent.max_new;
    c.params = parent.params;
    blocks_->fork(parent, c);
    next.push_back(std::move(slot));
  }
  for (SeqSlot& s : r.seqs) blocks_->free(*s.seq);
  r.seqs = std::move(next);
  r.forked = true;
  if (!r.beam->done()) return;
  const std::vector<BeamSearch::Hypothesis> hyps = r.beam->finalize();
  for (size_t k = 0; k < hyps.size(); ++k) {
    SequenceDelta& d = delta_for(o, static_cast<int>(k));
    d.token_ids = hyps[k].tokens;
    if (r.detokenize) d.text = options_.tokenizer->decode(hyps[k].tokens, r.skip_special_tokens);
    const bool eos =
        !hyps[k].tokens.empty() && contains(r.params.eos_token_ids, hyps[k].tokens.back());
    d.finish_reason = eos ? "stop" : "length";
    d.score = hyps[k].score;
    o.generated_tokens += static_cast<int64_t>(hyps[k].tokens.size());
  }
  for (SeqSlot& s : r.seqs) {
    s.seq->finished = true;
    blocks_->free(*s.seq);
  }
}

void Executor::finish_request(RequestState& r, RequestOutput& o) {
  scheduler_->remove(&r);
  o.finished = true;
  ++stats_.finished;
  stats_.prompt_tokens += r.seqs.empty() ? 0 : prompt_tokens(*r.seqs[0].seq);
  stats_.generated_tokens += o.generated_tokens;
}

std::vector<RequestOutput> Executor::step() {
  std::vector<RequestOutput> out;
  for (int64_t id : cancels_) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    RequestState& r = *it->second;
    RequestOutput o;
    o.request_id = id;
    o.prompt_tokens = prompt_tokens(*r.seqs[0].seq);
    for (SeqSlot& s : r.seqs)
      if (!s.seq->finished) delta_for(o, s.seq->index).finish_reason = "cancelled";
    scheduler_->remove(&r);
    o.finished = true;
    ++stats_.cancelled;
    out.push_back(std::move(o));
    requests_.erase(it);
  }
  cancels_.clear();
  // Requests with nothing to generate finish without running.
  for (auto it = requests_.begin(); it != requests_.end();) {
    RequestState& r = *it->second;
    if (r.max_new != 0) {
      ++it;
      continue;
    }
    RequestOutput o;
    o.request_id = r.id;
    o.prompt_tokens = prompt_tokens(*r.seqs[0].seq);
    for (int i = 0; i < r.width(); ++i) delta_for(o, i).finish_reason = "length";
    finish_request(r, o);
    out.push_back(std::move(o));
    it = requests_.erase(it);
  }
  if (requests_.empty()) return out;

  const auto t0 = std::chrono::steady_clock::now();
  StepPlan plan = scheduler_->plan();
  stats_.preemptions += plan.preempted;
  if (plan.chunks.empty()) return out;
  runner_->copy_blocks(plan.copies);
  Tensor logits = runner_->forward(plan.chunks, plan.decode_only);  // [rows, vocab] fp32
  const auto t_launched = std::chrono::steady_clock::now();

  // Rows in chunk order; requests in the order of their first row.
  std::vector<Sequence*> row_seq;
  bool any_prefill = false;
  for (const ScheduledChunk& c : plan.chunks) {
    any_prefill |= c.seq->num_computed < c.seq->prompt_len;
    c.seq->num_computed += c.num_tokens;
    blocks_->register_computed(*c.seq);
    if (c.wants_logits) row_seq.push_back(c.seq);
  }
  stats_.sampled_rows += static_cast<int64_t>(row_seq.size());
  std::vector<RequestState*> order;
  std::map<int64_t, std::vector<int64_t>> rows_of;  // request id -> its rows
  std::map<int64_t, size_t> index_of;               // request id -> its place in order
  std::vector<uint8_t> on_gpu_beam;                 // per request in order: beam_on_device
  // Host rows: the CPU runtime, and requests the GPU sampling kernel cannot serve (beams whose
  // candidates the GPU op chooses excepted).
  const auto on_host = [&](const RequestState& r, bool gpu_beam) {
    return !runner_->on_device() || (needs_host_sampling(r) && !gpu_beam);
  };
  bool any_host = false, any_device = false, any_gpu_beam = false;
  for (size_t i = 0; i < row_seq.size(); ++i) {
    RequestState* r = requests_.at(row_seq[i]->id).get();
    if (!rows_of.count(r->id)) {
      index_of[r->id] = order.size();
      order.push_back(r);
      on_gpu_beam.push_back(beam_on_device(*r) ? 1 : 0);
    }
    rows_of[r->id].push_back(static_cast<int64_t>(i));
    const bool gpu_beam = on_gpu_beam[index_of.at(r->id)];
    const bool host = on_host(*r, gpu_beam);
    any_host |= host;
    any_device |= !host && !gpu_beam;
    any_gpu_beam |= gpu_beam;
  }
  // The host copy first: the GPU sampling kernel applies penalties to the logits in place.
  Tensor host = any_host ? runner_->logits_on_host(logits) : Tensor();
  const int64_t vocab = model_.spec().vocab_size;
  const auto host_row = [&](int64_t row) { return host.data<float>() + row * vocab; };

  // Beams on the GPU: per-row candidates [rows, k] (log-softmax, end-id masks, top-k) come back
  // instead of the rows; before the sampling kernel, which masks rows in place.
  DeviceStep::BeamCandidates cands;
  int64_t cand_k = 0;
  std::vector<int64_t> cand_first(order.size(), -1);  // request -> its first candidate row
  if (any_gpu_beam) {
    int64_t width = 1;
    for (size_t i = 0; i < order.size(); ++i) {
      if (!on_gpu_beam[i]) continue;
      cand_k = std::max(cand_k, beam_candidates_k(order[i]->params, vocab));
      width = std::max(width, static_cast<int64_t>(order[i]->params.end_ids().size()));
    }
    std::vector<int32_t> rows, masks;
    for (size_t i = 0; i < order.size(); ++i) {
      if (!on_gpu_beam[i]) continue;
      const SamplingParams& p = order[i]->params;
      const std::vector<int32_t> ends = p.end_ids();
      cand_first[i] = static_cast<int64_t>(rows.size());
      // The beams of a request have equal lengths: one answer for all its rows.
      const Sequence& s0 = *row_seq[rows_of.at(order[i]->id)[0]];
      const bool masked = end_ids_masked(p, s0.tokens, s0.prompt_len);
      for (int64_t row : rows_of.at(order[i]->id)) {
        KILN_CHECK(row_seq[row]->tokens.size() == s0.tokens.size(),
                   "beam rows of request {} differ in length", order[i]->id);
        rows.push_back(static_cast<int32_t>(row));
        for (int64_t j = 0; j < width; ++j)
          masks.push_back(masked && j < static_cast<int64_t>(ends.size()) ? ends[j] : -1);
      }
    }
    cands = runner_->beam_candidates_on_device(logits, rows, masks, width, cand_k);
  }

  // n > 1: the children are forked (block tables: serial) before any row is sampled.
  std::vector<bool> forking(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    RequestState& r = *order[i];
    if (!r.is_beam() && r.width() > 1 && !r.forked) {
      fork_samples(r);
      forking[i] = true;
    }
  }
  // Host-side choices (sampler, processors, beam steps) touch only their own request: they run
  // in parallel over requests; applying them (blocks, outputs) stays serial below.
  const auto row_of = [&](size_t i, size_t k) {
    return forking[i] ? rows_of.at(order[i]->id)[0] : rows_of.at(order[i]->id).at(k);
  };
  std::vector<std::vector<int32_t>> host_tokens(order.size());
  std::vector<BeamSearch::Step> beam_steps(order.size());
  std::vector<uint8_t> dense_again(order.size(), 0);  // GPU beams whose candidates did not suffice
  std::exception_ptr error;
  // A team only when two or more requests have host work: a decode step sampled on the GPU has
  // none, and waking the OpenMP pool (16 threads on the GPU host) would sit on its critical path.
  const bool host_work = order.size() > 1 && (any_host || any_gpu_beam);
#pragma omp parallel for schedule(dynamic, 1) if (host_work)
  for (size_t i = 0; i < order.size(); ++i) {
    RequestState& r = *order[i];
    try {
      if (on_gpu_beam[i]) {
        const int64_t at = cand_first[i] * cand_k;
        std::optional<BeamSearch::Step> st = beam_step_sparse(
            r, cands.logprobs.data<float>() + at, cands.tokens.data<int32_t>() + at, cand_k,
            static_cast<int>(rows_of.at(r.id).size()));
        if (st) {
          beam_steps[i] = std::move(*st);
        } else {
          dense_again[i] = 1;
        }
        continue;
      }
      if (!on_host(r, false)) continue;
      if (r.is_beam()) {
        std::vector<const float*> ptrs;
        for (int64_t row : rows_of.at(r.id)) ptrs.push_back(host_row(row));
        beam_steps[i] = beam_step(r, ptrs);
        continue;
      }
      std::vector<float> scratch(vocab);
      size_t k = 0;
      for (SeqSlot& slot : r.seqs) {
        Sequence& s = *slot.seq;
        if (s.finished) continue;
        const float* raw = host_row(row_of(i, k++));
        std::copy(raw, raw + vocab, scratch.begin());
        host_tokens[i].push_back(choose_token(scratch.data(), vocab, s.params, s.tokens,
                                              s.num_generated(), s.rng, nullptr, encoder_ids(s)));
      }
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  // Rare: a GPU beam's candidate lists could not prove the step (rounding ties at the K-th
  // candidate); it runs on the host rows, from logits the sampling kernel has not touched yet.
  for (size_t i = 0; i < order.size(); ++i) {
    if (!on_gpu_beam[i]) continue;
    ++stats_.beam_device_steps;
    if (!dense_again[i]) continue;
    ++stats_.beam_dense_fallbacks;
    if (!host.defined()) host = runner_->logits_on_host(logits);
    std::vector<const float*> ptrs;
    for (int64_t row : rows_of.at(order[i]->id)) ptrs.push_back(host_row(row));
    beam_steps[i] = beam_step(*order[i], ptrs);
  }
  std::vector<int32_t> device_ids;
  if (any_device) {
    std::vector<const Sequence*> seqs(row_seq.begin(), row_seq.end());
    device_ids = runner_->sample_on_device(logits, seqs);
  }
  const auto t_sampled = std::chrono::steady_clock::now();

  for (size_t i = 0; i < order.size(); ++i) {
    RequestState& r = *order[i];
    RequestOutput o;
    o.request_id = r.id;
    o.prompt_tokens = prompt_tokens(*r.seqs[0].seq);
    const bool host_path = !runner_->on_device() || needs_host_sampling(r);
    if (r.is_beam()) {
      advance_beams(r, beam_steps[i], o);
    } else {
      size_t k = 0;
      for (SeqSlot& slot : r.seqs) {
        if (slot.seq->finished) continue;
        const int64_t row = row_of(i, k);
        const int32_t token = host_path ? host_tokens[i][k] : device_ids[row];
        ++k;
        append_token(r, slot, token, host_path ? host_row(row) : nullptr, o);
      }
    }
    if (!r.is_beam())
      for (const SeqSlot& s : r.seqs) o.generated_tokens += s.seq->num_generated();
    bool done = true;
    for (const SeqSlot& s : r.seqs) done &= s.seq->finished;
    if (done) finish_request(r, o);
    if (!o.deltas.empty() || o.finished) out.push_back(std::move(o));
    if (done) requests_.erase(r.id);
  }
  const auto t_end = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(t_end - t0).count();
  (any_prefill ? stats_.prefill_seconds : stats_.decode_seconds) += dt;
  if (!any_prefill && any_device && !any_host && !any_gpu_beam) {
    stats_.decode_host_seconds += std::chrono::duration<double>(t_launched - t0).count() +
                                  std::chrono::duration<double>(t_end - t_sampled).count();
    ++stats_.decode_host_steps;
  }
  const auto [graph_s, graph_n] = runner_->take_graph_time();  // the step has synchronised
  stats_.decode_graph_seconds += graph_s;
  stats_.decode_graph_steps += graph_n;
  ++(any_prefill ? stats_.prefill_steps : stats_.decode_steps);
  ++stats_.steps;
  return out;
}

}  // namespace kiln::runtime
