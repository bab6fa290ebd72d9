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
  // Tokens the step spends on this chunk: its decoder tokens, plus the encoder input when the
  // sequence's cross-attention K/V are computed in this step.
  int64_t step_tokens() const { return num_tokens + encoder_step_tokens(*seq); }
  static int64_t encoder_step_tokens(const Sequence& s) {
    return s.needs_encoding() ? static_cast<int64_t>(s.encoder_tokens.size()) : 0;
  }
};

// table_width: block-table columns (0: the longest sequence's block count). A fixed width keeps
// device buffers and captured CUDA graphs valid across steps.
// When the sequences are encoder–decoder ones (a model is one kind or the other) the batch also
// gets their cross-attention metadata (batch.cross; the cross table is cross_table_width wide,
// 0: the widest).
layers::ForwardBatch build_batch(const std::vector<ScheduledChunk>& chunks, int block_size,
                                 int64_t table_width = 0, int64_t cross_table_width = 0);

// Block size of the encoder's scratch pool (EncoderBatch::block_size): the runtime promises
// scratch_blocks * kEncoderScratchBlock <= tokens + kEncoderScratchBlock * sequences.
inline constexpr int64_t kEncoderScratchBlock = 16;

// The encoder inputs of `seqs` (each holding its cross blocks, block_size tokens each), packed:
// ids, positions, scratch-pool slots and bidirectional attention metadata, cross-K/V slots.
layers::EncoderBatch build_encoder_batch(const std::vector<const Sequence*>& seqs, int block_size);

}  // namespace kiln::runtime
