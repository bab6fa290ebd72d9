#include "api/engine_stats.h"

#include <algorithm>

namespace kiln::api {

EngineMetrics::EngineMetrics() {
  stats_.time_to_first_token.bounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25,
                                       0.5,   0.75,  1.0,  2.5,  5.0,  7.5,  10.0};
  stats_.inter_token_latency.bounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
                                       0.2,   0.3,   0.4,  0.5,   0.75, 1.0,   2.5};
  for (Histogram* h : {&stats_.time_to_first_token, &stats_.inter_token_latency})
    h->counts.assign(h->bounds.size() + 1, 0);
}

void EngineMetrics::observe(Histogram& h, double v) {
  const size_t i = std::lower_bound(h.bounds.begin(), h.bounds.end(), v) - h.bounds.begin();
  ++h.counts[i];
  h.sum += v;
  ++h.count;
}

void EngineMetrics::observe_ttft(double s) {
  std::lock_guard<std::mutex> l(mu_);
  observe(stats_.time_to_first_token, s);
}

void EngineMetrics::observe_itl(double s) {
  std::lock_guard<std::mutex> l(mu_);
  observe(stats_.inter_token_latency, s);
}

void EngineMetrics::add_tokens(int64_t prompt, int64_t generated,
                               std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> l(mu_);
  stats_.prompt_tokens_total += prompt;
  stats_.generation_tokens_total += generated;
  if (generated) recent_.emplace_back(now, generated);
  while (!recent_.empty() && now - recent_.front().first > std::chrono::seconds(10))
    recent_.pop_front();
}

void EngineMetrics::count_finished(bool cancelled) {
  std::lock_guard<std::mutex> l(mu_);
  ++(cancelled ? stats_.requests_cancelled : stats_.requests_finished);
}

void EngineMetrics::set_gauges(int64_t queued, int64_t running, int64_t blocks_total,
                               int64_t blocks_used, int64_t preemptions) {
  std::lock_guard<std::mutex> l(mu_);
  stats_.queued = queued;
  stats_.running = running;
  stats_.kv_blocks_total = blocks_total;
  stats_.kv_blocks_used = blocks_used;
  stats_.preemptions = preemptions;
}

EngineStats EngineMetrics::snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  EngineStats s = stats_;
  const auto now = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (const auto& [t, n] : recent_)
    if (now - t <= std::chrono::seconds(10)) tokens += n;
  s.generation_tokens_per_s = tokens / 10.0;
  return s;
}

}  // namespace kiln::api
