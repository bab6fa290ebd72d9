// fused_gpt_decode launcher: applicability, the ring size that fits the device's shared memory,
// and the cooperative launch of kernels/fused_decode.cuh (one CTA per SM).
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/fused_decode.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels/fused_decode.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

constexpr int kMinRingSlots = 4;
std::atomic<long> g_launches{0};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool layer_ok(const FusedDecodeLayer& L) {
  const void* ptrs[] = {L.qkv_w, L.out_w, L.fc_w, L.proj_w, L.k_pool, L.v_pool};
  for (const void* w : ptrs)
    if (!w || !aligned16(w)) return false;
  return L.qkv_rowsum && L.fc_rowsum;
}

template <class T>
bool launch_fused(const FusedDecodeLayer* layers, const FusedDecodeArgs& a, cudaStream_t stream) {
  const int kmax = std::max(a.hidden, a.inner);
  const int fixed = fused::fd_smem_bytes(0, a.n, kmax, a.head_dim);
  const int per_slot = fused::fd_smem_bytes(1, a.n, kmax, a.head_dim) - fixed;
  int slots = (max_smem_optin() - fixed) / per_slot;
  static const char* slot_cap = std::getenv("KILN_FD_SLOTS");  // A/B: a smaller ring
  if (slot_cap) slots = std::min(slots, std::atoi(slot_cap));
  if (slots < kMinRingSlots) return false;
  const int smem = fused::fd_smem_bytes(slots, a.n, kmax, a.head_dim);
  auto* kernel = fused::fused_gpt_decode_kernel<T>;
  // Per launch: the attribute belongs to the current device's context (a cheap host call).
  KILN_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem_optin()),
      "fused_gpt_decode");
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, fused::kFdThreads, smem) !=
          cudaSuccess ||
      per_sm < 1) {
    cudaGetLastError();
    return false;
  }
  fused::FusedParams p;
  p.a = a;
  p.ring_slots = slots;
  static const bool fence_all = switched_on("KILN_FD_FENCE_ALL");  // A/B
  p.fence_all = fence_all ? 1 : 0;
  std::copy(layers, layers + a.layers, p.layer);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(sm_count()));
  cfg.blockDim = dim3(fused::kFdThreads);
  cfg.dynamicSmemBytes = static_cast<size_t>(smem);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  KILN_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, p), "fused_gpt_decode");
  g_launches.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace

bool fused_gpt_decode(bool is_bf16, const FusedDecodeLayer* layers, const FusedDecodeArgs& a,
                      void* stream) {
  if (a.layers < 1 || a.layers > kFusedDecodeMaxLayers) return false;
  if (a.n < 1 || a.n > kFusedDecodeMaxRows) return false;
  // GEMV shapes: whole 64-element k-steps, whole 16-row tiles.
  if (a.hidden % 64 != 0 || a.inner % 64 != 0 || a.inner % fused::kFdRows != 0) return false;
  // Attention: 16-byte pieces of a head row, at most 16 of them (one K row in registers).
  if (a.head_dim % 8 != 0 || a.head_dim > 128 || a.heads * a.head_dim != a.hidden) return false;
  if (a.block_size < 1 || a.max_blocks < 1 || !a.counters) return false;
  const void* bufs[] = {a.h, a.qkv, a.attn};
  for (const void* ptr : bufs)
    if (!ptr || !aligned16(ptr)) return false;
  if (!a.block_tables || !a.cu_seqlens || !a.seq_kv_len || !a.slots) return false;
  for (int i = 0; i < a.layers; ++i)
    if (!layer_ok(layers[i])) return false;
  if (compute_major() < 9) return false;  // bulk async copies, mbarrier transactions: sm_90
  auto* s = static_cast<cudaStream_t>(stream);
  return is_bf16 ? launch_fused<__nv_bfloat16>(layers, a, s) : launch_fused<__half>(layers, a, s);
}

long fused_gpt_decode_launches() { return g_launches.load(std::memory_order_relaxed); }

}  // namespace kiln::ops::cuda
