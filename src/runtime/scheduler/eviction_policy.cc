#include "runtime/scheduler/eviction_policy.h"

namespace kiln::runtime {

RequestState* pick_victim(const std::vector<RequestState*>& candidates) {
  RequestState* victim = nullptr;
  for (RequestState* r : candidates)
    if (!victim || r->arrival > victim->arrival) victim = r;
  return victim;
}

}  // namespace kiln::runtime
