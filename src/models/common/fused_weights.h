// Fusing HF's separate tensors into kiln's fused ones at load (q|k|v, cross k|v, gate|up, T5's
// wi_0|wi_1): row-wise stacking of fp32 CPU tensors, and loading the parts straight from a HF
// checkpoint into the stacked tensor.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"

namespace kiln::models {

// Row-wise concatenation of fp32 CPU tensors with equal trailing sizes: [sum rows, ...].
Tensor cat_rows(const std::vector<const Tensor*>& parts);

// Loads HF tensors hf_parts[i] (part_rows[i] rows each, shape's trailing sizes) and stacks them
// into *out [shape] (shape[0] == sum of part_rows).
void load_fused(const io::Checkpoint& ckpt, const std::vector<std::string>& hf_parts,
                const std::vector<int64_t>& part_rows, const Shape& shape, Tensor* out);

}  // namespace kiln::models
