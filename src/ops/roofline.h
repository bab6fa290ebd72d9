// The ceilings a benchmark compares itself with, measured in the same run (DESIGN §8): device
// copy bandwidth (bytes read + written per second) and the rate of a large GEMM through the same
// linear op the models use.
#pragma once

#include <functional>

#include "core/exec_context.h"
#include "core/dtype.h"

namespace kiln::ops {

// Median seconds per call of fn over `iters` calls after `warmup` calls (device events on CUDA).
double time_seconds(ExecContext& ctx, const std::function<void()>& fn, int warmup, int iters);
double measure_copy_bandwidth(ExecContext& ctx, size_t bytes);
double measure_gemm_rate(ExecContext& ctx, DType dtype, int64_t n);

}  // namespace kiln::ops
