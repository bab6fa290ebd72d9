// Device side of programmatic dependent launch (see ops/cuda/launch.h for the contract).
#pragma once

namespace kiln::ops::cuda::detail {

// Blocks until the previous kernel in the stream has completed and its writes are visible.
// A no-op when the kernel was not launched with PDL or below sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the next kernel in the stream be scheduled (once every CTA of this grid has called it or
// exited). It still waits for this grid to complete in its own pdl_wait().
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Both, for kernels with nothing to do before their inputs are ready.
__device__ __forceinline__ void pdl_enter() {
  pdl_wait();
  pdl_launch_dependents();
}

}  // namespace kiln::ops::cuda::detail
