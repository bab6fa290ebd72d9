// Capacity policy: whether a waiting request may start now. It must fit the sequence limit
// (max_batch_size counts every sequence the request will fork into) and its first step's blocks
// must leave a small watermark free, so that running requests can still grow without an
// immediate preemption.
#pragma once

#include <cstdint>

namespace kiln::runtime {

struct Capacity {
  int64_t max_seqs = 0;          // max_batch_size
  int64_t running_seqs = 0;      // sequences of running requests
  int32_t available_blocks = 0;  // free + evictable
  int32_t watermark_blocks = 0;
};

bool can_admit(const Capacity& c, int64_t request_seqs, int32_t first_step_blocks);

// Blocks kept free at admission: 1% of the pool (at least one when the pool has 10+ blocks).
int32_t watermark_for(int32_t total_blocks);

}  // namespace kiln::runtime
