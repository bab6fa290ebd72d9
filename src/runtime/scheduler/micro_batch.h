// Micro-batch policy: which tokens of one request run in this step, within the step's token and
// sequence budgets. A single sequence takes as much of its remaining prompt as fits (chunked
// prefill); the sequences of a forked request (beams, n > 1) take their logits together: while
// they are being recomputed after a preemption each one catches up to its last token, and the
// last tokens run in one step, all or none.
#pragma once

#include <vector>

#include "runtime/batch_builder.h"
#include "runtime/request_state.h"

namespace kiln::runtime {

std::vector<ScheduledChunk> plan_chunks(RequestState& r, int64_t token_budget,
                                        int64_t seq_budget);

// True when every unfinished sequence of r has exactly its last token left to run.
bool is_decode_ready(const RequestState& r);

}  // namespace kiln::runtime
