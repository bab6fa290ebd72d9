// Engine: the public API over the Executor. One step thread owns the executor; callers enqueue
// from any thread into an intake queue (validated first, bounded by max_queue_size) and read
// their updates from a per-request stream. Cancels travel the same way and take effect within a
// step. A failure inside a step fails every in-flight request with its message and stops the
// engine (no silent hang).
#include "kiln/engine.h"

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "api/device_session.h"
#include "api/engine_stats.h"
#include "core/check.h"
#include "models/registry.h"
#include "runtime/executor.h"
#include "runtime/sampling/sampling_params.h"
#include "tokenizer/tokenizer.h"

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

runtime::SamplingParams to_params(const SamplingOptions& o, runtime::SamplingParams p,
                                  uint64_t random_seed) {
  if (o.max_new_tokens) p.max_new_tokens = *o.max_new_tokens;
  if (o.min_new_tokens) {
    p.min_new_tokens = *o.min_new_tokens;
    p.min_new_tokens_set = true;  // HF: a given min_new_tokens (even 0) replaces min_length
  }
  if (o.do_sample) p.do_sample = *o.do_sample;
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.min_p) p.min_p = *o.min_p;
  if (o.repetition_penalty) p.repetition_penalty = *o.repetition_penalty;
  if (o.presence_penalty) p.presence_penalty = *o.presence_penalty;
  if (o.frequency_penalty) p.frequency_penalty = *o.frequency_penalty;
  p.seed = o.seed ? *o.seed : random_seed;
  p.stop = o.stop;
  p.stop_token_ids = o.stop_token_ids;
  p.include_stop_str_in_output = o.include_stop_str_in_output;
  p.logprobs = o.logprobs;
  if (o.ignore_eos) p.ignore_eos = true;
  if (o.num_beams) p.num_beams = *o.num_beams;
  if (o.length_penalty) p.length_penalty = *o.length_penalty;
  if (o.early_stopping) p.early_stopping = static_cast<int>(*o.early_stopping);
  if (o.decoder_start_token_id) p.decoder_start_token_id = *o.decoder_start_token_id;
  if (o.no_repeat_ngram_size) p.no_repeat_ngram_size = *o.no_repeat_ngram_size;
  if (o.encoder_no_repeat_ngram_size)
    p.encoder_no_repeat_ngram_size = *o.encoder_no_repeat_ngram_size;
  if (o.bad_words_ids) p.bad_words_ids = *o.bad_words_ids;
  if (o.min_length) p.min_length = *o.min_length;
  if (o.forced_bos_token_id) p.forced_bos_token_id = *o.forced_bos_token_id;
  if (o.forced_eos_token_id) p.forced_eos_token_ids = *o.forced_eos_token_id;
  if (o.suppress_tokens) p.suppress_tokens = *o.suppress_tokens;
  if (o.begin_suppress_tokens) p.begin_suppress_tokens = *o.begin_suppress_tokens;
  if (p.num_beams > 1) {
    p.num_return_sequences = o.num_return_sequences.value_or(o.n > 1 ? o.n : p.num_return_sequences);
    p.n = 1;
  } else {
    p.n = o.n;
    if (o.num_return_sequences) p.num_return_sequences = *o.num_return_sequences;
  }
  return p;
}

class StreamImpl;

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& o);
  ~EngineImpl() override { shutdown(); }

  std::shared_ptr<RequestStream> enqueue(const Request& request) override;
  void cancel(int64_t id) override {
    std::lock_guard<std::mutex> l(mu_);
    cancels_.push_back(id);
    cv_.notify_all();
  }
  bool has_tokenizer() const override { return tokenizer_ != nullptr; }
  std::vector<int32_t> encode(const std::string& text, bool add_special) const override {
    if (!tokenizer_) throw RequestError("this model has no tokenizer: send token ids");
    return tokenizer_->encode(text, add_special);
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    if (!tokenizer_) throw RequestError("this model has no tokenizer");
    return tokenizer_->decode(ids, skip_special);
  }
  ModelInfo info() const override { return info_; }
  EngineStats stats() const override { return metrics_.snapshot(); }
  void shutdown() override;

 private:
  struct Pending {
    int64_t id;
    std::vector<int32_t> prompt;          // enc-dec: the encoder input
    std::vector<int32_t> decoder_prompt;  // enc-dec: empty, or the decoder's first tokens
    runtime::SamplingParams params;
    bool detokenize, skip_special;
  };
  struct Live {
    std::shared_ptr<StreamImpl> stream;
    Clock::time_point enqueued;
    bool first_token = false;
    std::map<int, Clock::time_point> last_token;  // per returned sequence
  };
  void loop();
  void deliver(const runtime::RequestOutput& o, Clock::time_point now);
  void fail_all(const std::string& message);

  EngineOptions options_;
  std::unique_ptr<api::DeviceSession> session_;
  std::unique_ptr<models::Model> model_;
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  runtime::SamplingParams defaults_;
  std::unique_ptr<runtime::Executor> executor_;
  ModelInfo info_;
  api::EngineMetrics metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> intake_;
  std::vector<int64_t> cancels_;
  std::map<int64_t, Live> live_;  // step thread only
  std::map<int64_t, std::shared_ptr<StreamImpl>> pending_streams_;  // enqueued, not yet taken
  int64_t next_id_ = 1;
  int64_t waiting_ = 0;  // executor's waiting requests after the last step
  bool stopping_ = false;
  std::string fatal_;    // set when a step failed: the engine refuses new work
  std::mt19937_64 seed_rng_{std::random_device{}()};
  std::thread thread_;
};

class StreamImpl final : public RequestStream {
 public:
  StreamImpl(int64_t id, EngineImpl* engine) : id_(id), engine_(engine) {}
  int64_t id() const override { return id_; }
  std::optional<RequestUpdate> next(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> l(mu_);
    const auto ready = [&] { return !updates_.empty() || done_read_; };
    if (timeout == std::chrono::milliseconds::max())
      cv_.wait(l, ready);
    else
      cv_.wait_for(l, timeout, ready);
    if (updates_.empty()) return std::nullopt;
    RequestUpdate u = std::move(updates_.front());
    updates_.pop_front();
    if (u.finished) done_read_ = true;
    return u;
  }
  bool finished() const override {
    std::lock_guard<std::mutex> l(mu_);
    return done_read_;
  }
  void cancel() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) return;
    }
    engine_->cancel(id_);
  }
  void push(RequestUpdate u) {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    closed_ = u.finished;
    updates_.push_back(std::move(u));
    cv_.notify_all();
  }

 private:
  int64_t id_;
  EngineImpl* engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestUpdate> updates_;
  bool closed_ = false;     // the final update was pushed
  bool done_read_ = false;  // ... and read
};

std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  // tokenizer.json, GPT-2 vocab files, or SentencePiece models (T5, mBART, Marian).
  const bool any = fs::exists(dir + "/tokenizer.json") || fs::exists(dir + "/vocab.json") ||
                   fs::exists(dir + "/encoder.json") || fs::exists(dir + "/spiece.model") ||
                   fs::exists(dir + "/sentencepiece.bpe.model") || fs::exists(dir + "/source.spm");
  if (!any) return nullptr;
  return tok::Tokenizer::from_dir(dir);
}

EngineImpl::EngineImpl(const EngineOptions& o) : options_(o) {
  KILN_CHECK(!o.model_dir.empty(), "EngineOptions.model_dir is empty");
  KILN_CHECK(o.max_queue_size > 0, "max_queue_size must be positive, got {}", o.max_queue_size);
  api::DeviceOptions d{o.device, o.dtype, o.gpu_memory_fraction, o.max_gpu_memory_gib};
  session_ = std::make_unique<api::DeviceSession>(d);
  model_ = models::load_model(o.model_dir, session_->load_options());
  tokenizer_ = load_tokenizer(o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir);
  defaults_ = runtime::load_generation_defaults(o.model_dir);
  const models::ModelSpec& spec = model_->spec();

  runtime::ExecutorOptions eo;
  eo.runner.max_batch_size = o.max_batch_size;
  eo.runner.max_num_tokens = o.max_num_tokens;
  eo.runner.block_size = o.tokens_per_block;
  eo.runner.cuda_graphs = o.cuda_graphs;
  eo.prefix_caching = o.enable_prefix_caching;
  eo.tokenizer = tokenizer_.get();
  KILN_CHECK(o.tokens_per_block > 0 && o.max_batch_size > 0 && o.max_num_tokens > 0,
             "tokens_per_block, max_batch_size and max_num_tokens must be positive");
  const int64_t block_bytes = 2ll * spec.num_layers * spec.num_kv_heads * o.tokens_per_block *
                              spec.head_dim * static_cast<int64_t>(dtype_size(spec.dtype));
  int64_t blocks = o.num_kv_blocks;
  if (blocks <= 0) {
    // A full sequence: its decoder positions, and for enc-dec its encoder's cross blocks.
    const int64_t per_seq = runtime::sequence_blocks(spec.max_positions,
                                                     spec.max_encoder_positions, o.tokens_per_block);
    if (spec.device.is_cuda()) {
      // What the budget leaves after the weights and the step workspace, less staging slack.
      model_->reserve(o.max_num_tokens, o.max_batch_size);
      const int64_t slack = 64ll << 20;
      const int64_t free_bytes = static_cast<int64_t>(session_->largest_free_bytes()) - slack;
      blocks = std::max<int64_t>(0, free_bytes / block_bytes - 1);
      KILN_CHECK(blocks >= per_seq,
                 "GPU memory budget leaves room for {} KV blocks, fewer than one full sequence "
                 "({}); raise --max_gpu_memory / --gpu_memory_fraction",
                 blocks, per_seq);
    } else {  // enough for max_batch_size full sequences, within 4 GiB of host memory
      blocks = std::max<int64_t>(per_seq, std::min<int64_t>(o.max_batch_size * per_seq,
                                                             (4ll << 30) / block_bytes));
    }
  }
  eo.runner.num_blocks = blocks;
  executor_ = std::make_unique<runtime::Executor>(*model_, eo, session_->ctx());

  info_.name = std::filesystem::path(o.model_dir).filename().string();
  if (info_.name.empty()) info_.name = std::filesystem::path(o.model_dir).parent_path().filename().string();
  info_.model_type = spec.model_type;
  info_.vocab_size = spec.vocab_size;
  info_.max_positions = spec.max_positions;
  info_.encoder_decoder = spec.encoder_decoder;
  info_.max_encoder_positions = spec.max_encoder_positions;
  info_.device = session_->device_name();
  info_.eos_token_ids = defaults_.eos_token_ids;
  metrics_.set_gauges(0, 0, executor_->kv_blocks_total(), executor_->kv_blocks_used(), 0);
  thread_ = std::thread([this] { loop(); });
}

std::shared_ptr<RequestStream> EngineImpl::enqueue(const Request& request) {
  Pending p;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) throw EngineStoppedError("the engine is shutting down");
    if (!fatal_.empty()) throw EngineStoppedError("the engine stopped after an error: " + fatal_);
    p.params = to_params(request.sampling, defaults_, seed_rng_());
  }
  try {
    executor_->validate(request.prompt_ids, p.params,
                        request.decoder_prompt_ids);  // reads only immutable state
  } catch (const Error& e) {
    throw RequestError(e.what());
  }
  p.prompt = request.prompt_ids;
  p.decoder_prompt = request.decoder_prompt_ids;
  p.detokenize = request.detokenize;
  p.skip_special = request.skip_special_tokens;
  std::lock_guard<std::mutex> l(mu_);
  if (static_cast<int64_t>(intake_.size()) + waiting_ >= options_.max_queue_size)
    throw QueueFullError("the request queue is full (" + std::to_string(options_.max_queue_size) +
                         " waiting); retry later");
  p.id = next_id_++;
  auto stream = std::make_shared<StreamImpl>(p.id, this);
  pending_streams_[p.id] = stream;
  intake_.push_back(std::move(p));
  cv_.notify_all();
  return stream;
}

void EngineImpl::deliver(const runtime::RequestOutput& o, Clock::time_point now) {
  auto it = live_.find(o.request_id);
  if (it == live_.end()) return;
  Live& live = it->second;
  RequestUpdate u;
  u.sequences = o.deltas;
  u.finished = o.finished;
  u.prompt_tokens = o.prompt_tokens;
  u.generated_tokens = o.generated_tokens;
  int64_t new_tokens = 0;
  bool cancelled = false;
  for (const SequenceDelta& d : o.deltas) {
    new_tokens += static_cast<int64_t>(d.token_ids.size());
    cancelled |= d.finish_reason && *d.finish_reason == "cancelled";
    if (d.token_ids.empty()) continue;
    if (!live.first_token) {
      live.first_token = true;
      metrics_.observe_ttft(std::chrono::duration<double>(now - live.enqueued).count());
    }
    auto last = live.last_token.find(d.index);
    if (last != live.last_token.end() && d.token_ids.size() == 1)
      metrics_.observe_itl(std::chrono::duration<double>(now - last->second).count());
    live.last_token[d.index] = now;
  }
  metrics_.add_tokens(0, new_tokens, now);
  if (o.finished) metrics_.count_finished(cancelled);  // visible before the final update is
  live.stream->push(std::move(u));
  if (o.finished) live_.erase(it);
}

void EngineImpl::fail_all(const std::string& message) {
  for (auto& [id, live] : live_) {
    RequestUpdate u;
    u.finished = true;
    u.error = message;
    live.stream->push(std::move(u));
  }
  live_.clear();
}

void EngineImpl::loop() {
  for (;;) {
    std::deque<Pending> intake;
    std::vector<int64_t> cancels;
    std::map<int64_t, std::shared_ptr<StreamImpl>> streams;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] {
        return stopping_ || !intake_.empty() || !cancels_.empty() || executor_->has_work();
      });
      if (stopping_) break;
      intake.swap(intake_);
      cancels.swap(cancels_);
      streams.swap(pending_streams_);
    }
    const auto now = Clock::now();
    for (Pending& p : intake) {
      live_[p.id] = Live{streams.at(p.id), now, false, {}};
      try {
        executor_->add_request(p.id, std::move(p.prompt), p.params, p.detokenize, p.skip_special,
                               p.decoder_prompt);
      } catch (const Error& e) {
        RequestUpdate u;
        u.finished = true;
        u.error = e.what();
        live_[p.id].stream->push(std::move(u));
        live_.erase(p.id);
      }
    }
    for (int64_t id : cancels) executor_->cancel(id);
    try {
      const std::vector<runtime::RequestOutput> outs = executor_->step();
      const auto t = Clock::now();
      metrics_.set_gauges(executor_->num_waiting(), executor_->num_running(),
                          executor_->kv_blocks_total(), executor_->kv_blocks_used(),
                          executor_->stats().preemptions);
      for (const runtime::RequestOutput& o : outs) {
        if (o.finished) metrics_.add_tokens(o.prompt_tokens, 0, t);
        deliver(o, t);
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> l(mu_);
      fatal_ = e.what();
      fail_all(std::string("engine step failed: ") + e.what());
      break;
    }
    std::lock_guard<std::mutex> l(mu_);
    waiting_ = executor_->num_waiting();
  }
  // Stopping: every request still in flight (or never admitted) ends as cancelled.
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, s] : pending_streams_) live_[id] = Live{s, Clock::now(), false, {}};
  pending_streams_.clear();
  intake_.clear();
  for (auto& [id, live] : live_) {
    RequestUpdate u;
    u.finished = true;
    SequenceDelta d;
    d.finish_reason = "cancelled";
    u.sequences.push_back(d);
    live.stream->push(std::move(u));
  }
  live_.clear();
}

void EngineImpl::shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineOptions& options) {
  return std::make_unique<EngineImpl>(options);
}

}  // namespace kiln
