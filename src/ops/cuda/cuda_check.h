// Every CUDA runtime and cuBLAS(Lt) call is wrapped: a failure throws kiln::Error naming the op
// (or call site), the call and the CUDA error string.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "core/check.h"

#define KILN_CUDA_CHECK(call, op)                                                       \
  do {                                                                                  \
    const cudaError_t kiln_err_ = (call);                                               \
    if (kiln_err_ != cudaSuccess) [[unlikely]]                                          \
      KILN_FAIL("{}: {} failed: {} ({})", op, #call, cudaGetErrorString(kiln_err_),     \
                cudaGetErrorName(kiln_err_));                                           \
  } while (0)

#define KILN_CUBLAS_CHECK(call, op)                                                          \
  do {                                                                                       \
    const cublasStatus_t kiln_st_ = (call);                                                  \
    if (kiln_st_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                      \
      KILN_FAIL("{}: {} failed: cuBLAS status {}", op, #call, static_cast<int>(kiln_st_));  \
  } while (0)

// After a kernel launch: catches launch-configuration errors immediately.
#define KILN_CUDA_LAUNCH_CHECK(op) KILN_CUDA_CHECK(cudaGetLastError(), op)
