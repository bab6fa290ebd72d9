#include "runtime/scheduler/scheduler.h"

#include <algorithm>

#include "core/check.h"
#include "runtime/scheduler/capacity_policy.h"
#include "runtime/scheduler/eviction_policy.h"
#include "runtime/scheduler/micro_batch.h"

namespace kiln::runtime {

Scheduler::Scheduler(const SchedulerOptions& options, BlockManager& blocks)
    : options_(options), blocks_(blocks) {}

void Scheduler::add(RequestState* r) {
  auto it = std::upper_bound(waiting_.begin(), waiting_.end(), r,
                             [](const RequestState* a, const RequestState* b) {
                               return a->arrival < b->arrival;
                             });
  waiting_.insert(it, r);
}

void Scheduler::remove(RequestState* r) {
  for (SeqSlot& s : r->seqs) blocks_.free(*s.seq);
  std::erase(running_, r);
  std::erase(waiting_, r);
}

int64_t Scheduler::running_seqs() const {
  int64_t n = 0;
  for (const RequestState* r : running_) n += r->live_seqs();
  return n;
}

void Scheduler::preempt(RequestState* r) {
  for (SeqSlot& s : r->seqs) {
    blocks_.free(*s.seq);
    s.seq->num_computed = 0;
  }
  std::erase(running_, r);
  add(r);
}

// Plans r's chunks and takes their blocks, preempting newer unscheduled requests when needed.
// Returns false when r itself was preempted or has nothing to run.
bool Scheduler::try_schedule(RequestState* r, StepPlan& plan, int64_t& tokens, int64_t& seqs,
                             std::vector<RequestState*>& unscheduled) {
  std::erase(unscheduled, r);
  std::vector<ScheduledChunk> chunks = plan_chunks(*r, tokens, seqs);
  if (chunks.empty()) return false;
  const auto cost = [&] {
    int32_t n = 0;
    for (const ScheduledChunk& c : chunks) n += blocks_.cost(*c.seq, c.seq->num_computed + c.num_tokens);
    return n;
  };
  while (cost() > blocks_.num_available()) {
    RequestState* victim = pick_victim(unscheduled);
    if (!victim) {
      preempt(r);
      ++plan.preempted;
      return false;
    }
    std::erase(unscheduled, victim);
    preempt(victim);
    ++plan.preempted;
  }
  for (const ScheduledChunk& c : chunks) {
    tokens -= c.step_tokens();  // before ensure: it counts the encoder while cross K/V are missing
    blocks_.ensure(*c.seq, c.seq->num_computed + c.num_tokens, &plan.copies);
    --seqs;
    plan.chunks.push_back(c);
  }
  return true;
}

StepPlan Scheduler::plan() {
  StepPlan plan;
  int64_t tokens = options_.max_num_tokens, seqs = options_.max_batch_size;
  // Decode-ready requests first, then those mid-prefill; oldest first within each.
  std::vector<RequestState*> order = running_;
  std::stable_sort(order.begin(), order.end(), [](const RequestState* a, const RequestState* b) {
    const bool da = is_decode_ready(*a), db = is_decode_ready(*b);
    return da != db ? da : a->arrival < b->arrival;
  });
  std::vector<RequestState*> unscheduled = order;
  for (RequestState* r : order) {
    if (std::find(running_.begin(), running_.end(), r) == running_.end()) continue;  // preempted
    try_schedule(r, plan, tokens, seqs, unscheduled);
  }
  if (plan.preempted == 0) {
    int64_t in_flight = running_seqs();
    while (!waiting_.empty() && tokens > 0 && seqs > 0) {
      RequestState* r = waiting_.front();
      for (SeqSlot& s : r->seqs)
        if (!s.seq->finished && s.seq->blocks.empty()) blocks_.match_prefix(*s.seq);
      std::vector<ScheduledChunk> chunks = plan_chunks(*r, tokens, seqs);
      int32_t need = 0;
      for (const ScheduledChunk& c : chunks)
        need += blocks_.cost(*c.seq, c.seq->num_computed + c.num_tokens);
      Capacity cap{options_.max_batch_size, in_flight, blocks_.num_available(),
                   watermark_for(blocks_.num_total())};
      if (chunks.empty() || !can_admit(cap, r->live_seqs(), need)) {
        for (SeqSlot& s : r->seqs) {  // give back prefix-cache matches
          blocks_.free(*s.seq);
          s.seq->num_computed = 0;
        }
        break;
      }
      waiting_.pop_front();
      running_.push_back(r);
      in_flight += r->live_seqs();
      for (const ScheduledChunk& c : chunks) {
        tokens -= c.step_tokens();
        blocks_.ensure(*c.seq, c.seq->num_computed + c.num_tokens, &plan.copies);
        --seqs;
        plan.chunks.push_back(c);
      }
    }
  }
  plan.decode_only = !plan.chunks.empty();
  for (const ScheduledChunk& c : plan.chunks)
    plan.decode_only &= c.num_tokens == 1 && c.wants_logits && !c.seq->needs_encoding() &&
                        c.seq->num_computed + 1 == static_cast<int64_t>(c.seq->tokens.size());
  return plan;
}

}  // namespace kiln::runtime
