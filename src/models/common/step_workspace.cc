#include "models/common/step_workspace.h"

#include <algorithm>

namespace kiln::models {

StepWorkspaceSize prenorm_step_size(int64_t d, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                    int64_t intermediate, int64_t vocab_size, int64_t extra_bytes) {
  const int64_t qkv = (heads + 2 * kv_heads) * head_dim;
  const int64_t attn = qkv + heads * head_dim, mlp = 3 * intermediate;
  return {.per_token = 3 * d + std::max(attn, mlp),
          .per_logit_row = 2 * d,
          .vocab_size = vocab_size,
          .extra_bytes = extra_bytes};
}

void reserve_step_workspace(Workspace& ws, Allocator* alloc, DType dtype, int64_t max_num_tokens,
                            int64_t max_logit_rows, const StepWorkspaceSize& size) {
  const int64_t es = static_cast<int64_t>(dtype_size(dtype));
  const int64_t bytes = max_num_tokens * size.per_token * es +
                        max_logit_rows * size.per_logit_row * es +
                        max_logit_rows * size.vocab_size * 4 + size.extra_bytes + 16 * 256;
  ws = Workspace();
  ws = Workspace(static_cast<size_t>(bytes), alloc);
}

}  // namespace kiln::models
