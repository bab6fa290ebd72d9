// Packs the tokens scheduled this step (prefill chunks and decode tokens of many sequences) into
// one ForwardBatch: ids, positions, KV slots, block tables, and the rows whose logits are wanted.
#pragma once

#include <vector>

#include "layers/forward_batch.h"
#include "runtime/sequence.h"

namespace kiln::runtime {

struct ScheduledChunk {
  Sequence* seq;
  int64_t num_tokens;  // tokens [seq->num_computed, seq->num_computed + num_tokens) run this step
  bool wants_logits;   // the chunk ends at the sequence's last token
};

// table_width: block-table columns (0: the longest sequence's block count). A fixed width keeps
// device buffers and captured CUDA graphs valid across steps.
layers::ForwardBatch build_batch(const std::vector<ScheduledChunk>& chunks, int block_size,
                                 int64_t table_width = 0);

}  // namespace kiln::runtime
