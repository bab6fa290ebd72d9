// Kernel launches with programmatic dependent launch (PDL, sm_90+): the next kernel in the stream
// may be scheduled while this one drains, so its launch latency and prologue (weight prefetch)
// overlap the previous kernel's tail. Inside CUDA graphs the edges stay programmatic.
//
// Contract for every kernel launched through launch(): it calls pdl_wait() (kernels/pdl.cuh)
// before it reads anything an earlier kernel wrote and before it writes anything, so it behaves
// as a plainly ordered launch; only reads of memory that no kernel of the step writes (weights,
// biases) may come before. pdl_wait() returns once the previous grid has completed and its writes
// are visible, which by induction orders it after every earlier kernel too.
// Every kernel here lets its dependents launch only after its own pdl_wait() (pdl_enter()), so
// when a kernel starts, every kernel but its predecessor has completed: a kernel that knows what
// its predecessor writes may also read, before its wait, memory written earlier than that (the
// decode-row attention's K/V rows of earlier steps, attention_decode_row.cuh).
//
// PDL is on for devices of compute capability >= 9.0 unless KILN_PDL=0 (for A/B measurements);
// elsewhere launch() is a plain launch and pdl_wait() a no-op.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

#include "core/env.h"  // switched_off / switched_on: the kernels' A/B switches

namespace kiln::ops::cuda {

bool pdl_enabled();   // for the current device
int compute_major();  // of the current device (0 if the query fails); cached per device

// Streaming multiprocessors of the current device (132 if the query fails); cached per device.
int sm_count();
// Dynamic shared memory one CTA may opt in to on the current device (48 KiB if the query fails).
int max_smem_optin();

// CTAs of `kernel` resident per SM at `threads` threads and `smem_bytes` of dynamic shared
// memory (the runtime's occupancy), cached in `slot` (0: unknown) after the first query; 0 when
// the query fails (not cached). For launch-shape choices that depend on one wave.
template <class K>
int blocks_per_sm(std::atomic<int>& slot, K kernel, int threads, size_t smem_bytes) {
  int b = slot.load(std::memory_order_relaxed);
  if (b > 0) return b;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, threads, smem_bytes) !=
      cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  b = b > 0 ? b : 1;  // never 0 once known (a 0 would be re-queried every call)
  slot.store(b, std::memory_order_relaxed);
  return b;
}

template <class... KArgs, class... Args>
cudaError_t launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem_bytes,
                   cudaStream_t stream, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem_bytes;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

}  // namespace kiln::ops::cuda
