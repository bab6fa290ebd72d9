#include "runtime/scheduler/capacity_policy.h"

namespace kiln::runtime {

bool can_admit(const Capacity& c, int64_t request_seqs, int32_t first_step_blocks) {
  if (c.running_seqs + request_seqs > c.max_seqs) return false;
  // An empty engine always admits (the request was checked to fit the whole pool).
  if (c.running_seqs == 0) return first_step_blocks <= c.available_blocks;
  return first_step_blocks + c.watermark_blocks <= c.available_blocks;
}

int32_t watermark_for(int32_t total_blocks) { return total_blocks / 100 + (total_blocks >= 10); }

}  // namespace kiln::runtime
