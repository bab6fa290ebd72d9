// StepGraph: a captured CUDA graph of one forward pass, replayed for later steps of the same
// shape (decode steps of one batch-size bucket). Kernel arguments are baked in at capture, so the
// caller keeps every buffer at a fixed address. Without CUDA it is never ready.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "core/exec_context.h"

namespace kiln::ops {

class StepGraph {
 public:
  StepGraph();
  ~StepGraph();
  StepGraph(StepGraph&&) noexcept;
  StepGraph& operator=(StepGraph&&) noexcept;
  // Records fn's launches on ctx's stream (nothing runs) and instantiates the graph.
  void capture(ExecContext& ctx, const std::function<void()>& fn);
  // Enqueues one replay, bracketed by device events.
  void launch(ExecContext& ctx);
  bool ready() const;
  // Device time of the replays that have completed since the last call (seconds) and their
  // number; waits for the latest replay to finish. Host overhead between replays is excluded.
  std::pair<double, int64_t> take_device_time();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether graph capture is available for ctx (a CUDA device in a CUDA build).
bool graphs_supported(const ExecContext& ctx);

}  // namespace kiln::ops
