// Eviction policy: when a running request needs KV blocks and none are left, the most recently
// admitted request that has not run yet in this step is preempted (its blocks freed, its tokens
// recomputed when it is admitted again) — first come, first served, as vLLM does. If there is
// none, the requester itself yields.
#pragma once

#include <vector>

#include "runtime/request_state.h"

namespace kiln::runtime {

// candidates: running requests not yet scheduled this step (requester excluded). May be empty.
RequestState* pick_victim(const std::vector<RequestState*>& candidates);

}  // namespace kiln::runtime
