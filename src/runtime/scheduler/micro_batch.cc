#include "runtime/scheduler/micro_batch.h"

#include <algorithm>

namespace kiln::runtime {
namespace {

int64_t remaining(const Sequence& s) {
  return static_cast<int64_t>(s.tokens.size()) - s.num_computed;
}

}  // namespace

bool is_decode_ready(const RequestState& r) {
  for (const SeqSlot& slot : r.seqs)
    if (!slot.seq->finished && remaining(*slot.seq) != 1) return false;
  return true;
}

std::vector<ScheduledChunk> plan_chunks(RequestState& r, int64_t token_budget,
                                        int64_t seq_budget) {
  std::vector<Sequence*> live;
  for (SeqSlot& slot : r.seqs)
    if (!slot.seq->finished && remaining(*slot.seq) > 0) live.push_back(slot.seq.get());
  std::vector<ScheduledChunk> chunks;
  if (live.empty()) return chunks;
  // An encoder–decoder sequence runs its encoder in the step that first schedules it: the encoder
  // input counts against the token budget.
  const auto enc = [](const Sequence& s) { return ScheduledChunk::encoder_step_tokens(s); };
  if (live.size() == 1) {
    const int64_t rem = remaining(*live[0]);
    const int64_t take = std::min(rem, token_budget - enc(*live[0]));
    if (take > 0 && seq_budget > 0) chunks.push_back({live[0], take, take == rem});
    return chunks;
  }
  const int64_t n = static_cast<int64_t>(live.size());
  if (is_decode_ready(r)) {
    int64_t need = n;
    for (Sequence* s : live) need += enc(*s);
    if (token_budget < need || seq_budget < n) return chunks;
    for (Sequence* s : live) chunks.push_back({s, 1, true});
    return chunks;
  }
  for (Sequence* s : live) {  // catch up to (not including) the last token
    const int64_t take = std::min(remaining(*s) - 1, token_budget - enc(*s));
    if (take <= 0) continue;
    if (seq_budget == 0) break;
    chunks.push_back({s, take, false});
    token_budget -= take + enc(*s);
    --seq_budget;
  }
  return chunks;
}

}  // namespace kiln::runtime
