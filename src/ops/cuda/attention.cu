// Paged KV cache write and paged attention (CUDA). Dispatch, per launch:
//  - head_dim a multiple of 16 bytes, <= 256, 16-byte aligned pointers and q stride:
//      * decode kernel (SIMT, attention_decode.cuh) for every sequence with q_len <= qmax (one CTA
//        per sequence x kv head x slice of <= 16 query heads: K/V read once per GQA group), with
//        split-K over the kv range when the grid would otherwise be small, plus a combine kernel;
//      * fp16/bf16: context kernel (flash-attention-2 on mma.sync, attention_context.cuh) for the
//        sequences with q_len > qmax; fp32: the decode kernel also covers them, 16 rows per CTA.
//    Which kernel owns a sequence is decided on the device from cu_seqlens, so one launch of each
//    covers mixed prefill / chunked-prefill / decode batches.
//  - decode-only MHA batches (max_q_len <= 1, heads == kv_heads) take the decode-row kernel
//    (attention_decode_row.cuh) instead of the general decode kernel, same split-K plan.
//  - anything else: the scalar fallback (attention_fallback.cuh).
// Every path honours args.causal (false: each query row sees all seq_kv_len keys of its sequence)
// and the optional relative position bias (read on the device; the context kernel has a BIAS
// template instance so the plain path is unchanged). Nothing here reads device data, so a launch
// can be captured in a CUDA graph with max_q_len / max_kv_len as upper bounds.
// The split-K plan depends only on PagedAttentionArgs, so paged_attention_workspace_bytes and the
// launcher agree without seeing the pointers.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/attention_context.cuh"
#include "ops/cuda/kernels/attention_decode.cuh"
#include "ops/cuda/kernels/attention_decode_row.cuh"
#include "ops/cuda/kernels/attention_fallback.cuh"
#include "ops/cuda/kernels/attention_kv_write.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

constexpr const char* kOp = "paged_attention";
constexpr int kMinSplitCtas = 256;  // split the kv range until the decode grid has this many CTAs

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Run-time switches for A/B measurements: KILN_ATTN_ROW=0 routes decode-only MHA batches to the
// general decode kernel instead of the decode-row one; KILN_ATTN_COMBINE=0 combines split
// decode-row launches with the reduce kernel instead of their last CTA; KILN_ATTN_APPEND=0 writes
// the step's K/V with kv_cache_write before a decode-row launch instead of inside it;
// KILN_ATTN_PREFETCH=0 makes the decode-row kernel request its K/V only after the PDL wait.
bool row_kernel_enabled() {
  static const bool on = !switched_off("KILN_ATTN_ROW");
  return on;
}
bool row_combine_enabled() {
  static const bool on = !switched_off("KILN_ATTN_COMBINE");
  return on;
}
bool row_prefetch_enabled() {
  static const bool on = !switched_off("KILN_ATTN_PREFETCH");
  return on;
}
bool row_append_enabled() {
  static const bool on = !switched_off("KILN_ATTN_APPEND");
  return on;
}
// KILN_ATTN_WIDE=0: short one-wave decode-row launches split the keys into 128-key CTAs (combined
// in their last CTA) instead of one 256-thread CTA per (sequence, head).
bool row_wide_enabled() {
  static const bool on = !switched_off("KILN_ATTN_WIDE");
  return on;
}

template <class K>
void set_smem(K kernel, int bytes) {
  if (bytes > 48 * 1024)
    KILN_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), kOp);
}

// The fused decode-row variants (this step's K/V appended in the kernel: 94 registers against
// 72, 5 CTAs per SM against 7 on sm_90; split-K combined in the last CTA: a fence and an atomic
// per CTA) remove launches, which pays while the grid is a single wave (a launch-latency-bound
// step: batch 1 is 25-50 CTAs) and costs bandwidth beyond it (H200, gpt2-xl batch 64 at 2048
// context: 14.95 ms per decode step unfused, 17.0 fused). True when `ctas` CTAs of the APPEND
// kernel are resident at once.
template <class T, int NT = attn::kRowThreads>
bool row_fusions_pay(int64_t ctas, int head_dim) {
  static std::array<std::atomic<int>, 257> blocks{};  // per SM, by head_dim; 0 unknown
  const int d = std::clamp(head_dim, 0, 256);
  auto kernel = attn::paged_attention_decode_row_kernel<T, true, NT>;
  const int bytes = attn::decode_row_smem_bytes<T, NT>(d);
  // The occupancy query counts only what the kernel may be given; once cached, no query follows.
  if (blocks[d].load(std::memory_order_relaxed) == 0) set_smem(kernel, bytes);
  const int b = blocks_per_sm(blocks[d], kernel, NT, bytes);
  return ctas <= static_cast<int64_t>(std::max(b, 1)) * sm_count();
}

struct Plan {
  int hs = 1, slices = 1, qmax = 1, nsplit = 1, part = 1 << 30, qrows_ws = 1;
  size_t ml_floats = 0, acc_floats = 0;  // workspace: [rows, 2] then [rows, head_dim]
};

Plan make_plan(const PagedAttentionArgs& a) {
  Plan p;
  const int group = static_cast<int>(a.heads / std::max<int64_t>(a.kv_heads, 1));
  p.hs = std::max(1, std::min(group, attn::kDecodeMaxRows));
  p.slices = (group + p.hs - 1) / p.hs;
  p.qmax = std::max(1, attn::kDecodeMaxRows / p.hs);
  p.qrows_ws = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(a.max_q_len, p.qmax)));
  if (a.head_dim <= 0 || a.head_dim > 256 || a.max_kv_len <= 0) return p;
  const int64_t base = a.num_seqs * a.kv_heads * p.slices;
  int part = 512;
  while (part > 128 && base * ((a.max_kv_len + part - 1) / part) < kMinSplitCtas) part /= 2;
  const int64_t nsplit = (a.max_kv_len + part - 1) / part;
  if (nsplit <= 1) return p;
  p.nsplit = static_cast<int>(nsplit);
  p.part = part;
  const size_t rows = static_cast<size_t>(a.num_seqs) * p.qrows_ws * a.heads * p.nsplit;
  p.ml_floats = (2 * rows + 3) / 4 * 4;  // keep the acc block 16-byte aligned
  p.acc_floats = rows * a.head_dim;
  return p;
}

template <class T, int DP, bool BIAS>
void launch_context(T* out, const T* q, int64_t q_stride, const T* k_pool, const T* v_pool,
                    const int32_t* block_tables, const int32_t* cu_seqlens,
                    const int32_t* seq_kv_len, const attn::ContextParams& cp, int64_t num_seqs,
                    cudaStream_t stream) {
  auto kernel = attn::paged_attention_context_kernel<T, DP, BIAS>;
  constexpr int bytes = attn::context_smem_bytes<DP>();
  set_smem(kernel, bytes);
  KILN_CHECK(num_seqs <= 65535 && cp.qtiles <= 65535,
             "{}: {} sequences of up to {} query tiles exceed the context kernel's grid", kOp,
             num_seqs, cp.qtiles);
  const dim3 grid(static_cast<unsigned>(cp.heads), static_cast<unsigned>(num_seqs),
                  static_cast<unsigned>(cp.qtiles));
  cuda::launch(kernel, dim3(grid), dim3(attn::kCtxThreads), bytes, stream, out, q, q_stride, k_pool,
               v_pool, block_tables, cu_seqlens, seq_kv_len, cp);
  KILN_CUDA_LAUNCH_CHECK(kOp);
}

}  // namespace

size_t paged_attention_workspace_bytes(const PagedAttentionArgs& a) {
  const Plan p = make_plan(a);
  return (p.ml_floats + p.acc_floats) * sizeof(float);
}

template <class T>
void kv_cache_write(T* k_pool, T* v_pool, const T* k, const T* v, int64_t kv_stride,
                    const int32_t* slots, int64_t n, int64_t kv_heads, int64_t block_size,
                    int64_t head_dim, cudaStream_t stream) {
  if (n <= 0 || kv_heads <= 0 || head_dim <= 0) return;
  constexpr int VEC = 16 / sizeof(T);
  const bool vec = head_dim % VEC == 0 && kv_stride % VEC == 0 && aligned16(k_pool) &&
                   aligned16(v_pool) && aligned16(k) && aligned16(v);
  const int64_t total = n * kv_heads * (vec ? head_dim / VEC : head_dim);
  const int threads = 256;
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((total + threads - 1) / threads, 1 << 20));
  if (vec)
    cuda::launch(attn::kv_cache_write_kernel<T, VEC>, dim3(blocks), dim3(threads), 0, stream,
                 k_pool, v_pool, k, v, kv_stride, slots, n, static_cast<int>(kv_heads),
                 static_cast<int>(block_size), static_cast<int>(head_dim));
  else
    cuda::launch(attn::kv_cache_write_kernel<T, 1>, dim3(blocks), dim3(threads), 0, stream, k_pool,
                 v_pool, k, v, kv_stride, slots, n, static_cast<int>(kv_heads),
                 static_cast<int>(block_size), static_cast<int>(head_dim));
  KILN_CUDA_LAUNCH_CHECK("kv_cache_write");
}

template <class T>
void paged_attention(T* out, const T* q, int64_t q_stride, const T* k_pool, const T* v_pool,
                     const int32_t* block_tables, const int32_t* cu_seqlens,
                     const int32_t* seq_kv_len, const PagedAttentionArgs& a, void* workspace,
                     cudaStream_t stream) {
  if (a.num_tokens <= 0 || a.num_seqs <= 0 || a.heads <= 0) return;
  constexpr int VEC = 16 / sizeof(T);
  const int group = static_cast<int>(a.heads / a.kv_heads);
  const float scale_log2 = a.scale * attn::kLog2e;
  const int causal = a.causal ? 1 : 0, radius = static_cast<int>(a.bias_radius);
  const int D = static_cast<int>(a.head_dim);
  const bool fast = D % VEC == 0 && D <= 256 && q_stride % VEC == 0 && aligned16(q) &&
                    aligned16(out) && aligned16(k_pool) && aligned16(v_pool);
  const bool use_row = fast && a.max_q_len <= 1 && group == 1 && row_kernel_enabled();
  Plan pl = make_plan(a);
  // Keys that fit one wide chunk (more than one 128-key chunk), in a one-wave grid: one CTA per
  // (sequence, head), no split (the workspace goes unused). Beyond one wave the 128-thread kernel
  // stays (H200, gpt2-xl batch 64, 128/128: 3.94 ms per step against 4.13 wide).
  const bool wide = use_row && a.max_kv_len > attn::kRowThreads &&
                    a.max_kv_len <= attn::kRowWideThreads && row_wide_enabled() &&
                    attn::decode_row_smem_bytes<T, attn::kRowWideThreads>(D) <= max_smem_optin() &&
                    row_fusions_pay<T, attn::kRowWideThreads>(a.num_seqs * a.heads, D);
  if (wide) pl.nsplit = 1, pl.part = 1 << 30;
  const bool fusions_pay =
      use_row && (wide || row_fusions_pay<T>(a.num_seqs * a.heads * pl.nsplit, D));
  // Appending this step's K/V: inside the decode-row kernel where that pays, else a write first.
  const bool fused_append = a.slots && fusions_pay && row_append_enabled() && aligned16(a.k_new) &&
                            aligned16(a.v_new) && a.kv_stride % VEC == 0;
  if (a.slots && !fused_append)
    kv_cache_write<T>(const_cast<T*>(k_pool), const_cast<T*>(v_pool),
                      static_cast<const T*>(a.k_new), static_cast<const T*>(a.v_new), a.kv_stride,
                      a.slots, a.num_tokens, a.kv_heads, a.block_size, a.head_dim, stream);
  if (!fast) {
    KILN_CHECK(D <= attn::kFallbackMaxDim, "{}: head_dim {} > {} is not supported", kOp, D,
               attn::kFallbackMaxDim);
    attn::FallbackParams fp{static_cast<int>(a.num_seqs),
                            static_cast<int>(a.heads),
                            static_cast<int>(a.kv_heads),
                            group,
                            D,
                            static_cast<int>(a.block_size),
                            static_cast<int>(a.max_blocks),
                            a.num_tokens,
                            scale_log2,
                            causal,
                            a.position_bias,
                            radius};
    const int64_t warps = a.num_tokens * a.heads;
    auto kernel = attn::paged_attention_fallback_kernel<T>;
    const int bytes = 4 * D * static_cast<int>(sizeof(float));
    cuda::launch(kernel, dim3(static_cast<unsigned>((warps + 3) / 4)), dim3(128), bytes, stream,
                 out, q, q_stride, k_pool, v_pool, block_tables, cu_seqlens, seq_kv_len, fp);
    KILN_CUDA_LAUNCH_CHECK(kOp);
    return;
  }

  const bool use_ctx = sizeof(T) == 2 && a.max_q_len > pl.qmax;
  if constexpr (sizeof(T) == 2) {
    if (use_ctx) {
      attn::ContextParams cp{static_cast<int>(a.heads),
                             static_cast<int>(a.kv_heads),
                             group,
                             D,
                             static_cast<int>(a.block_size),
                             static_cast<int>(a.max_blocks),
                             static_cast<int>((a.max_q_len + attn::kCtxBQ - 1) / attn::kCtxBQ),
                             a.block_size > 0 && (a.block_size & (a.block_size - 1)) == 0
                                 ? std::countr_zero(static_cast<uint64_t>(a.block_size))
                                 : -1,
                             pl.qmax,
                             scale_log2,
                             causal,
                             a.position_bias,
                             radius};
      auto launch = [&](auto dp, auto bias) {
        launch_context<T, decltype(dp)::value, decltype(bias)::value>(
            out, q, q_stride, k_pool, v_pool, block_tables, cu_seqlens, seq_kv_len, cp, a.num_seqs,
            stream);
      };
      auto by_dim = [&](auto bias) {
        if (D <= 64)
          launch(std::integral_constant<int, 64>{}, bias);
        else if (D <= 128)
          launch(std::integral_constant<int, 128>{}, bias);
        else
          launch(std::integral_constant<int, 256>{}, bias);
      };
      if (a.position_bias)
        by_dim(std::true_type{});
      else
        by_dim(std::false_type{});
    }
  }

  attn::DecodeParams dp{};
  dp.num_seqs = static_cast<int>(a.num_seqs);
  dp.heads = static_cast<int>(a.heads);
  dp.kv_heads = static_cast<int>(a.kv_heads);
  dp.group = group;
  dp.head_dim = D;
  dp.block_size = static_cast<int>(a.block_size);
  dp.max_blocks = static_cast<int>(a.max_blocks);
  dp.hs = pl.hs;
  dp.slices = pl.slices;
  dp.qmax = pl.qmax;
  const int64_t q_rows = std::max<int64_t>(a.max_q_len, 1);
  dp.qchunks = use_ctx ? 1 : static_cast<int>((q_rows + pl.qmax - 1) / pl.qmax);
  dp.skip_long = use_ctx ? 1 : 0;
  dp.nsplit = pl.nsplit;
  dp.part = pl.part;
  dp.qrows_ws = pl.qrows_ws;
  dp.scale_log2 = scale_log2;
  dp.causal = causal;
  dp.bias = a.position_bias;
  dp.bias_radius = radius;
  // Split decode-row launches combine in their last CTA when the context has counters for them.
  const bool row_combine = fusions_pay && pl.nsplit > 1 && pl.nsplit <= attn::kRowThreads &&
                           row_combine_enabled() && a.counters &&
                           a.num_counters >= a.num_seqs * a.heads;
  if (row_combine) dp.counters = a.counters;
  dp.prefetch = row_prefetch_enabled();
  if (fused_append) {
    dp.k_new = a.k_new;
    dp.v_new = a.v_new;
    dp.kv_stride = a.kv_stride;
    dp.slots = a.slots;
  }
  float* ws_ml = pl.nsplit > 1 ? static_cast<float*>(workspace) : nullptr;
  float* ws_acc = pl.nsplit > 1 ? ws_ml + pl.ml_floats : nullptr;

  if (use_row) {
    constexpr int W = attn::kRowWideThreads;
    auto kernel = fused_append ? (wide ? attn::paged_attention_decode_row_kernel<T, true, W>
                                       : attn::paged_attention_decode_row_kernel<T, true>)
                               : (wide ? attn::paged_attention_decode_row_kernel<T, false, W>
                                       : attn::paged_attention_decode_row_kernel<T, false>);
    const int bytes =
        wide ? attn::decode_row_smem_bytes<T, W>(D) : attn::decode_row_smem_bytes<T>(D);
    set_smem(kernel, bytes);
    const dim3 grid(static_cast<unsigned>(a.num_seqs * a.heads), static_cast<unsigned>(pl.nsplit));
    cuda::launch(kernel, grid, dim3(wide ? W : attn::kRowThreads), bytes, stream, out, q, q_stride,
                 const_cast<T*>(k_pool), const_cast<T*>(v_pool), block_tables, cu_seqlens,
                 seq_kv_len, ws_ml, ws_acc, dp);
  } else {
    auto kernel = attn::paged_attention_decode_kernel<T>;
    const int bytes = attn::decode_smem<T>(D, pl.hs * pl.qmax).total;
    set_smem(kernel, bytes);
    const dim3 grid(static_cast<unsigned>(a.num_seqs * a.kv_heads * pl.slices * dp.qchunks),
                    static_cast<unsigned>(pl.nsplit));
    cuda::launch(kernel, grid, dim3(attn::kDecodeThreads), bytes, stream, out, q, q_stride, k_pool,
                 v_pool, block_tables, cu_seqlens, seq_kv_len, ws_ml, ws_acc, dp);
  }
  KILN_CUDA_LAUNCH_CHECK(kOp);
  if (pl.nsplit > 1 && !row_combine) {
    const int64_t rows = a.num_seqs * pl.qrows_ws * a.heads;
    const int rbytes = 4 * pl.nsplit * static_cast<int>(sizeof(float));
    auto reduce = attn::paged_attention_reduce_kernel<T>;
    set_smem(reduce, rbytes);
    cuda::launch(reduce, dim3(static_cast<unsigned>((rows + 3) / 4)), dim3(128), rbytes, stream,
                 out, cu_seqlens, seq_kv_len, ws_ml, ws_acc, dp);
    KILN_CUDA_LAUNCH_CHECK(kOp);
  }
}

#define KILN_INSTANTIATE_ATTENTION(T)                                                           \
  template void kv_cache_write<T>(T*, T*, const T*, const T*, int64_t, const int32_t*, int64_t, \
                                  int64_t, int64_t, int64_t, cudaStream_t);                     \
  template void paged_attention<T>(T*, const T*, int64_t, const T*, const T*, const int32_t*,   \
                                   const int32_t*, const int32_t*, const PagedAttentionArgs&,   \
                                   void*, cudaStream_t);
KILN_INSTANTIATE_ATTENTION(float)
KILN_INSTANTIATE_ATTENTION(__half)
KILN_INSTANTIATE_ATTENTION(__nv_bfloat16)
#undef KILN_INSTANTIATE_ATTENTION

}  // namespace kiln::ops::cuda
