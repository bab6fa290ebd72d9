// Workspace sizing (DESIGN: no allocation inside forward): each family states what a step keeps
// live at once, per token and per logit row, and reserve_step_workspace turns that into one arena
// for steps of up to max_num_tokens tokens and max_logit_rows logit rows.
#pragma once

#include <cstdint>

#include "core/allocator.h"
#include "core/workspace.h"

namespace kiln::models {

struct StepWorkspaceSize {
  int64_t per_token = 0;      // elements (compute dtype) live at once per token at the peak
  int64_t per_logit_row = 0;  // elements (compute dtype) per logit row before the head
  int64_t vocab_size = 0;     // fp32 logits per logit row
  int64_t extra_bytes = 0;    // per-step scratch independent of the token count
};

// A pre-norm decoder with fused-QKV attention and a gated MLP (common/prenorm_forward.h): live at
// once h, normed, tmp (3 x d), then the attention's q|k|v + output or the MLP's gate|up + hidden;
// at the end the gathered rows (2 x d) and the fp32 logits; extra_bytes (e.g. rotary scratch).
StepWorkspaceSize prenorm_step_size(int64_t d, int64_t heads, int64_t kv_heads, int64_t head_dim,
                                    int64_t intermediate, int64_t vocab_size, int64_t extra_bytes);

// Releases ws's old arena first (device budgets are tight), then allocates the new one with
// 256-byte alignment slack for 16 takes.
void reserve_step_workspace(Workspace& ws, Allocator* alloc, DType dtype, int64_t max_num_tokens,
                            int64_t max_logit_rows, const StepWorkspaceSize& size);

}  // namespace kiln::models
