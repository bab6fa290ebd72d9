// Beam-search candidates on the device, one CTA per row (the twin of ops/cpu/beam_candidates.cc,
// which is the host beam search's own log-softmax): log_softmax in fp32 with the exponentials of
// x - max rounded to fp32 and summed in double — each exponential is exp() in double rounded to
// fp32, i.e. the correctly rounded expf the host computes, and the double sum makes the order of
// summation irrelevant at fp32 — then the min-length mask (-inf), then the row's k best.
//
// No sort of the row: the k-th largest log-prob is found by an exact radix selection over an
// order-preserving 32-bit key (NaN folded into +inf, -0 into +0), 8 bits per pass from the top;
// every key above it is taken, and of the keys equal to it the lowest token ids (an ordered scan
// with block-wide ranks), so the chosen set is exactly the first k of (log-prob desc, token asc).
// The <= 128 chosen ones are then ranked against each other in shared memory. Log-probs are
// recomputed from the logits on every pass (the same arithmetic, so the same values) rather than
// stored: nothing is allocated and nothing synchronises.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxK = 128;
constexpr int kMaxMask = 32;
constexpr unsigned kFull = detail::kFullMask;

// Order-preserving map float -> uint32; NaN ranks as +inf (torch.topk), -0 equals +0.
__device__ __forceinline__ uint32_t order_key(float v) {
  if (isnan(v)) v = __int_as_float(0x7f800000);
  const uint32_t u = __float_as_uint(v == 0.f ? 0.f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kThreads)
    beam_candidates_kernel(float* __restrict__ out_lp, int32_t* __restrict__ out_tok,
                           const float* __restrict__ logits, const int32_t* __restrict__ row_ids,
                           const int32_t* __restrict__ mask_ids, int max_mask, int64_t vocab,
                           int k) {
  detail::pdl_enter();
  __shared__ int32_t s_mask[kMaxMask];
  __shared__ unsigned s_hist[256];
  __shared__ uint32_t s_prefix;
  __shared__ unsigned s_remaining, s_ngt;
  __shared__ unsigned s_warp[kWarps];
  __shared__ float s_lp[kMaxK];
  __shared__ int32_t s_tok[kMaxK];
  __shared__ uint32_t s_key[kMaxK];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t r = blockIdx.x;
  const float* x = logits + static_cast<int64_t>(row_ids[r]) * vocab;
  if (tid < max_mask) s_mask[tid] = mask_ids[r * max_mask + tid];
  if (tid == 0) s_ngt = 0;

  // log_softmax statistics, as cpu::log_softmax_row.
  float mx = -INFINITY;
  for (int64_t i = tid; i < vocab; i += kThreads) mx = fmaxf(mx, x[i]);  // NaN ignored, as std::max
  mx = detail::block_max(mx);
  const bool raw = isinf(mx) && mx < 0.f;  // every token -inf: the row is left as it is
  float lse = 0.f;
  if (!raw) {
    double sum = 0;
    for (int64_t i = tid; i < vocab; i += kThreads)
      sum += static_cast<double>(static_cast<float>(exp(static_cast<double>(x[i] - mx))));
    sum = detail::block_sum(sum);
    lse = static_cast<float>(log(sum));
  }
  const auto lp_at = [&](int64_t i) {
    float lp = raw ? x[i] : (x[i] - mx) - lse;
    for (int j = 0; j < max_mask; ++j)
      if (s_mask[j] == i) lp = -INFINITY;
    return lp;
  };

  // Radix selection of the k-th largest key: prefix holds its top bits so far, remaining its rank
  // among the keys that share them.
  uint32_t prefix = 0;
  unsigned remaining = static_cast<unsigned>(k);
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = tid; b < 256; b += kThreads) s_hist[b] = 0;
    __syncthreads();
    const uint32_t hi_mask = shift == 24 ? 0u : (0xffffffffu << (shift + 8));
    for (int64_t base = 0; base < vocab; base += kThreads) {
      const int64_t i = base + tid;
      int bin = -1;
      if (i < vocab) {
        const uint32_t key = order_key(lp_at(i));
        if ((key & hi_mask) == prefix) bin = static_cast<int>((key >> shift) & 255u);
      }
      // Warp-aggregated: log-probs crowd into few bins at the top levels.
      const unsigned peers = __match_any_sync(kFull, bin);
      if (bin >= 0 && lane == __ffs(peers) - 1) atomicAdd(&s_hist[bin], __popc(peers));
    }
    __syncthreads();
    if (warp == 0) {
      // Lane l owns bins [8l, 8l + 8); the answer is the highest bin b with
      // count(bins >= b) >= remaining.
      unsigned c[8], lane_sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) c[j] = s_hist[lane * 8 + j], lane_sum += c[j];
      unsigned suffix = lane_sum;  // over lanes >= lane
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned t = __shfl_down_sync(kFull, suffix, o);
        if (lane + o < 32) suffix += t;
      }
      unsigned above = suffix - lane_sum, found_above = 0;
      int found = -1;
#pragma unroll
      for (int j = 7; j >= 0; --j) {
        if (found < 0 && above + c[j] >= remaining) found = j, found_above = above;
        above += c[j];
      }
      const unsigned ballot = __ballot_sync(kFull, found >= 0);  // never empty: rank <= count
      if (lane == 31 - __clz(ballot)) {
        s_prefix = prefix | (static_cast<uint32_t>(lane * 8 + found) << shift);
        s_remaining = remaining - found_above;
      }
    }
    __syncthreads();
    prefix = s_prefix;
    remaining = s_remaining;
  }
  const uint32_t kth = prefix;                                 // the k-th largest key
  const unsigned n_gt = static_cast<unsigned>(k) - remaining;  // keys above it, all taken

  // Collection in token order: every key above kth; of those equal to it, the lowest ids.
  unsigned eq_taken = 0;
  for (int64_t base = 0; base < vocab; base += kThreads) {
    const int64_t i = base + tid;
    float lp = 0.f;
    uint32_t key = 0;
    bool eq = false;
    if (i < vocab) {
      lp = lp_at(i);
      key = order_key(lp);
      eq = key == kth;
      if (key > kth) {
        const unsigned slot = atomicAdd(&s_ngt, 1u);
        s_lp[slot] = lp, s_tok[slot] = static_cast<int32_t>(i), s_key[slot] = key;
      }
    }
    const unsigned ballot = __ballot_sync(kFull, eq);
    if (lane == 0) s_warp[warp] = __popc(ballot);
    __syncthreads();
    unsigned rank = __popc(ballot & ((1u << lane) - 1u)), total = 0;
    for (int w = 0; w < kWarps; ++w) {
      const unsigned c = s_warp[w];
      rank += w < warp ? c : 0u;
      total += c;
    }
    if (eq && eq_taken + rank < remaining) {
      const unsigned slot = n_gt + eq_taken + rank;
      s_lp[slot] = lp, s_tok[slot] = static_cast<int32_t>(i), s_key[slot] = key;
    }
    eq_taken += total;
    const bool done = eq_taken >= remaining && s_ngt == n_gt;  // this chunk's atomics are in
    __syncthreads();
    if (done) break;  // uniform: every thread read the same shared values
  }
  __syncthreads();

  // Rank the k chosen against each other: (key desc, token asc); all pairs are distinct.
  for (int j = tid; j < k; j += kThreads) {
    const uint32_t kj = s_key[j];
    const int32_t tj = s_tok[j];
    int rank = 0;
    for (int m = 0; m < k; ++m) {
      const uint32_t km = s_key[m];
      rank += (km > kj || (km == kj && s_tok[m] < tj)) ? 1 : 0;
    }
    out_lp[r * k + rank] = s_lp[j];
    out_tok[r * k + rank] = tj;
  }
}

}  // namespace

void beam_candidates(float* out_logprobs, int32_t* out_tokens, const float* logits,
                     const int32_t* row_ids, const int32_t* mask_ids, int64_t rows, int64_t vocab,
                     int64_t max_mask, int64_t k, cudaStream_t stream) {
  if (rows == 0) return;
  KILN_CHECK(k >= 1 && k <= kMaxK && k <= vocab, "beam_candidates: k = {} outside [1, {}]", k,
             std::min<int64_t>(kMaxK, vocab));
  KILN_CHECK(max_mask >= 0 && max_mask <= kMaxMask, "beam_candidates: {} mask ids per row (max {})",
             max_mask, kMaxMask);
  cuda::launch(beam_candidates_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, stream,
               out_logprobs, out_tokens, logits, row_ids, mask_ids, static_cast<int>(max_mask),
               vocab, static_cast<int>(k));
  KILN_CUDA_LAUNCH_CHECK("beam_candidates");
}

}  // namespace kiln::ops::cuda
