// ExecContext: what an op needs besides its tensors — the device, the host thread count, and (on
// CUDA) the stream, cuBLASLt handle and workspace. Ops take it last.
#pragma once

#include "core/allocator.h"
#include "core/device.h"

namespace kiln {

struct ExecContext {
  Device device = Device::cpu();
  Allocator* allocator = cpu_allocator();
  int num_threads = 0;          // 0: all cores (OpenMP default)
  void* stream = nullptr;       // cudaStream_t on CUDA
  void* blas_handle = nullptr;  // cublasLtHandle_t on CUDA
  void* workspace = nullptr;    // device workspace for cuBLASLt
  size_t workspace_bytes = 0;
  // Device arrival counters (CUDA), all zero between kernels: a kernel whose last CTA finishes
  // the work (split-K combine) counts arrivals here and leaves them zero again. Kernels on this
  // context's stream run one after another, so they may all use them from index 0.
  unsigned* counters = nullptr;
  size_t num_counters = 0;
};

}  // namespace kiln
