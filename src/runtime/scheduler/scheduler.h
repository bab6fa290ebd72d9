// Scheduler: turns the running and waiting requests into one step's chunks. Running requests go
// first (those ready to decode, then those still in prefill, oldest first), each taking the KV
// blocks its tokens need — preempting newer requests when blocks run out (eviction_policy); then,
// if nothing was preempted, waiting requests are admitted in arrival order while the token
// budget, the sequence limit and the capacity policy allow. Never drops a request.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "runtime/batch_builder.h"
#include "runtime/kv_cache/block_manager.h"
#include "runtime/request_state.h"

namespace kiln::runtime {

struct SchedulerOptions {
  int64_t max_batch_size = 64;   // sequences in flight
  int64_t max_num_tokens = 2048; // tokens per step
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;
  std::vector<BlockCopy> copies;  // copy-on-write, to run before the forward
  bool decode_only = false;       // every chunk is one token wanting logits
  int64_t preempted = 0;          // requests preempted while planning
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, BlockManager& blocks);

  void add(RequestState* r);     // to the waiting queue, in arrival order
  void remove(RequestState* r);  // finished or cancelled: frees its blocks
  StepPlan plan();

  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t running_seqs() const;

 private:
  void preempt(RequestState* r);
  bool try_schedule(RequestState* r, StepPlan& plan, int64_t& tokens, int64_t& seqs,
                    std::vector<RequestState*>& unscheduled);

  SchedulerOptions options_;
  BlockManager& blocks_;
  std::deque<RequestState*> waiting_;  // sorted by arrival
  std::vector<RequestState*> running_;
};

}  // namespace kiln::runtime
