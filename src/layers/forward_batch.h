// ForwardBatch: one packed step of the step loop. Tokens of every scheduled sequence, in prefill
// (possibly a chunk) or decode, are concatenated — no padding (DESIGN §4). The runtime fills it;
// models and layers only read it.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ops/ops.h"

namespace kiln::layers {

struct ForwardBatch {
  Tensor input_ids;     // [n] int32
  Tensor positions;     // [n] int32, position of each token within its sequence
  Tensor slots;         // [n] int32, KV slot to write: block * block_size + offset
  ops::AttentionMeta attn;  // block tables and per-token / per-sequence lengths
  Tensor logit_rows;    // [m] int32, packed rows whose logits are wanted (last token of a sequence)
  // Encoder–decoder models only: cross-attention of the decoder tokens over each sequence's
  // encoder K/V, which live in blocks of their own in the same per-layer pools (written once per
  // request by Model::encode). Non-causal; same sequences and cu_seqlens as `attn`,
  // seq_kv_len / kv_len = the encoder length, block_tables = the cross blocks.
  ops::AttentionMeta cross;
  int64_t num_tokens() const { return input_ids.defined() ? input_ids.size(0) : 0; }
};

// Encoder–decoder models: the encoder inputs of the sequences whose cross-attention K/V are
// computed this step, packed like ForwardBatch. Encoder self-attention is bidirectional over a
// scratch pool that the model takes from its workspace: `attn` (causal = false) addresses
// `scratch_blocks` blocks of `block_size` tokens through `scratch_slots`; the encoder output's
// cross K/V for decoder layer l go into that layer's KV pools at `cross_slots`.
struct EncoderBatch {
  Tensor input_ids;      // [n] int32
  Tensor positions;      // [n] int32, position within its encoder input
  Tensor scratch_slots;  // [n] int32, slot in the scratch pool: block * block_size + offset
  ops::AttentionMeta attn;  // over the scratch pool; causal = false
  Tensor cross_slots;    // [n] int32, slot in the KV pools of this token's cross K/V
  int64_t scratch_blocks = 0;
  int64_t block_size = 0;
  int64_t num_tokens() const { return input_ids.defined() ? input_ids.size(0) : 0; }
};

struct KvCacheView {
  std::vector<Tensor> k;  // per layer [num_blocks, kv_heads, block_size, head_dim]
  std::vector<Tensor> v;  // per layer, same
};

}  // namespace kiln::layers
