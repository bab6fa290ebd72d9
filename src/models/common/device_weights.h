// Weights on the device: a model computes in fp32 on the CPU (16-bit and fp8 checkpoints are
// widened at load) and in the requested fp16/bf16/fp32 elsewhere; its weights are moved there once,
// in that dtype, at construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "models/weight_map.h"

namespace kiln::models {

// The activation/weight dtype of a model on `device`; `model_type` names the family in errors.
DType compute_dtype(const Device& device, DType requested, const std::string& model_type);

// Replaces every entry's fp32 host tensor by a copy on alloc's device in `dtype` (a no-op for fp32
// on the CPU) and returns the bytes of all of them (ModelSpec::weight_bytes before adjustments).
int64_t move_weights(const std::vector<WeightEntry>& entries, DType dtype, Allocator* alloc);

}  // namespace kiln::models
