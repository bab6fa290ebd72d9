// Engine metrics: counters, a recent tokens/s window and the latency histograms behind /metrics.
// Guarded by its own mutex: the step thread records, any thread reads a snapshot.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>

#include "kiln/engine.h"

namespace kiln::api {

class EngineMetrics {
 public:
  EngineMetrics();
  void observe_ttft(double seconds);
  void observe_itl(double seconds);
  void add_tokens(int64_t prompt, int64_t generated, std::chrono::steady_clock::time_point now);
  void count_finished(bool cancelled);
  void set_gauges(int64_t queued, int64_t running, int64_t blocks_total, int64_t blocks_used,
                  int64_t preemptions);
  EngineStats snapshot() const;

 private:
  static void observe(Histogram& h, double v);
  mutable std::mutex mu_;
  EngineStats stats_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent_;  // 10 s window
};

}  // namespace kiln::api
