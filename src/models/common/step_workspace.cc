#include "models/common/step_workspace.h"

namespace kiln::models {

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
