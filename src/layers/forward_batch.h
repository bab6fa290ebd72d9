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
  int64_t num_tokens() const { return input_ids.defined() ? input_ids.size(0) : 0; }
};

struct KvCacheView {
  std::vector<Tensor> k;  // per layer [num_blocks, kv_heads, block_size, head_dim]
  std::vector<Tensor> v;  // per layer, same
};

}  // namespace kiln::layers
