// A scripted kiln::Engine for the server's unit tests: a character "tokenizer" (id = byte), and
// streams that produce max_new_tokens tokens ('a' + i) one per next() call, honouring n,
// logprobs and cancel(). Magic prompts: id 999 -> RequestError; queue_full -> QueueFullError;
// hang -> streams that only end when cancelled.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "kiln/engine.h"

namespace kiln::serve::testing {

class FakeStream : public RequestStream {
 public:
  FakeStream(int64_t id, Request r, bool hang, std::atomic<int>* cancels)
      : id_(id), r_(std::move(r)), hang_(hang), cancels_(cancels) {}
  int64_t id() const override { return id_; }
  std::optional<RequestUpdate> next(std::chrono::milliseconds timeout) override {
    if (finished_) return std::nullopt;
    if (hang_ && !cancelled_) {
      std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
      if (!cancelled_) return std::nullopt;
    }
    RequestUpdate u;
    u.prompt_tokens = static_cast<int64_t>(r_.prompt_ids.size());
    const int64_t max = r_.sampling.max_new_tokens.value_or(16);
    const int n = r_.sampling.num_beams.value_or(1) > 1 ? r_.sampling.num_return_sequences.value_or(1)
                                                         : r_.sampling.n;
    const bool last = cancelled_ || step_ + 1 >= max;
    for (int s = 0; s < n; ++s) {
      SequenceDelta d;
      d.index = s;
      if (!cancelled_) {
        const int32_t tok = 'a' + static_cast<int32_t>((step_ + s) % 26);
        d.token_ids = {tok};
        d.text = std::string(1, static_cast<char>(tok));
        if (r_.sampling.logprobs >= 0) {
          d.logprobs = {-0.5f};
          std::vector<TokenLogprob> top;
          for (int k = 0; k < r_.sampling.logprobs; ++k) top.push_back({'A' + k, -1.f - k});
          d.top_logprobs = {top};
        }
      }
      if (last) d.finish_reason = cancelled_ ? "cancelled" : "length";
      u.sequences.push_back(d);
    }
    ++step_;
    u.generated_tokens = step_ * n;
    u.finished = last;
    finished_ = last;
    return u;
  }
  bool finished() const override { return finished_; }
  void cancel() override {
    if (!cancelled_.exchange(true) && !finished_) ++*cancels_;
  }

 private:
  int64_t id_;
  Request r_;
  bool hang_;
  std::atomic<int>* cancels_;
  int64_t step_ = 0;
  std::atomic<bool> finished_{false}, cancelled_{false};
};

class FakeEngine : public Engine {
 public:
  std::shared_ptr<RequestStream> enqueue(const Request& r) override {
    for (int32_t id : r.prompt_ids)
      if (id == 999) throw RequestError("prompt id 999 is forbidden");
    if (queue_full) throw QueueFullError("queue full (2 waiting)");
    std::lock_guard<std::mutex> lock(mu_);
    last_request = r;
    ++enqueued;
    return std::make_shared<FakeStream>(enqueued, r, hang, &cancels);
  }
  void cancel(int64_t) override {}
  bool has_tokenizer() const override { return tokenizer; }
  std::vector<int32_t> encode(const std::string& text, bool add_special) const override {
    std::vector<int32_t> ids;
    if (add_special) ids.push_back(1);  // a "BOS"
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override {
    std::string s;
    for (int32_t id : ids)
      if (!(skip_special && id == 1)) s += static_cast<char>(id);
    return s;
  }
  ModelInfo info() const override {
    ModelInfo i;
    i.name = "fake";
    i.model_type = "gpt2";
    i.vocab_size = 1000;
    i.max_positions = 64;
    i.device = "CPU";
    return i;
  }
  EngineStats stats() const override {
    EngineStats s;
    s.kv_blocks_total = 10;
    return s;
  }
  void shutdown() override {}

  Request last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request;
  }

  bool tokenizer = true;
  std::atomic<bool> queue_full{false}, hang{false};
  std::atomic<int> cancels{0};
  std::atomic<int64_t> enqueued{0};

 private:
  std::mutex mu_;
  Request last_request;
};

}  // namespace kiln::serve::testing
