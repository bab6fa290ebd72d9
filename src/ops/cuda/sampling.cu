// Token choice on the device, one CTA per row, in HF's logits-processor order (the twin of
// runtime/sampling/sampler.cc): repetition penalty over the row's history (each distinct id once),
// min-new-tokens EOS mask, then greedy argmax (first maximum) or temperature -> top-k -> top-p ->
// softmax -> one draw. Only the ids leave the device; nothing allocates or synchronises.
//
// No sort: top-k and top-p are exact radix selections over an order-preserving 32-bit key of the
// (temperature-scaled) logits, 8 bits per pass from the top. top-k selects the k-th largest value
// (ties at it are kept, as the CPU's `logits < kth` mask does); top-p selects the smallest value
// whose strictly-larger probability mass is < top_p — HF's "drop ascending-sorted tokens whose
// cumulative probability <= 1 - top_p" — and resolves ties at that value exactly as HF's stable
// ascending sort does (lower indices are dropped first), with a selection over token indices.
// Probabilities are exp(v - max) in 2^-38 fixed point summed in uint64: integer sums are
// order-independent, so results are bitwise reproducible and the histogram atomics are exact.
// The draw walks the kept mass in token-index order like the CPU sampler, with a uniform from
// Philox4x32-10 keyed by the row's seed and counted by its step (independent of batch layout).
//
// After the call, logits hold the penalised, EOS-masked values; temperature/top-k/top-p are
// applied on the fly and not written back. workspace: a per-row bitmap of seen ids for the
// repetition penalty (null: an O(history²) duplicate scan instead).
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

using u64 = unsigned long long;
constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr float kFixScale = 274877906944.f;  // 2^38: a row of 2^25 ones still fits in uint64
constexpr unsigned kFull = detail::kFullMask;

__host__ __device__ inline int64_t bitmap_words(int64_t vocab) { return (vocab + 31) / 32; }

// Order-preserving map float -> uint32 (-0 folded into +0 so equal values have equal keys).
__device__ __forceinline__ uint32_t order_key(float v) {
  const uint32_t u = __float_as_uint(v == 0.f ? 0.f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// ---- Philox4x32-10 (Salmon et al. 2011), counter = (step, 0, 0, 0), key = seed -------------
__device__ __forceinline__ double philox_uniform(uint64_t seed, uint32_t step) {
  uint32_t c0 = step, c1 = 0, c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  // 53 random bits -> [0, 1)
  const u64 bits = (static_cast<u64>(c0 >> 5) << 26) | (c1 >> 6);
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);
}

struct SelectShared {
  u64 mass[256];
  unsigned count[256];
  unsigned bin;
  u64 above;
};

// Radix selection over the elements i < n with select(i, &key) true. Measure is the element count
// (kMass false) or mass(i) (kMass true). Returns the largest key u with measure(key >= u) >= target
// (the smallest selected key if no key reaches it); above = measure(key > u), at_measure and
// at_count describe key == u. Every thread of the block must call it.
template <bool kMass, class SelectFn, class MassFn>
__device__ uint32_t radix_select(int64_t n, SelectFn select, MassFn mass_of, u64 target,
                                 SelectShared& sh, u64& above, u64& at_measure,
                                 unsigned& at_count) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint32_t prefix = 0;
  above = 0;
  const int64_t n_round = (n + kThreads - 1) / kThreads * kThreads;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) sh.mass[i] = 0, sh.count[i] = 0;
    __syncthreads();
    const uint32_t hi_mask = shift == 24 ? 0u : (0xffffffffu << (shift + 8));
    for (int64_t i = threadIdx.x; i < n_round; i += kThreads) {
      int bin = -1;
      u64 m = 0;
      uint32_t key;
      if (i < n && select(i, &key) && (key & hi_mask) == prefix) {
        bin = static_cast<int>((key >> shift) & 255u);
        if constexpr (kMass) m = mass_of(i);
      }
      // Warp-aggregated histogram update: logits crowd into few bins at the top levels.
      const unsigned peers = __match_any_sync(kFull, bin);
      const int leader = __ffs(peers) - 1;
      const int group = __popc(peers);
      if (bin >= 0 && lane == leader) atomicAdd(&sh.count[bin], static_cast<unsigned>(group));
      if constexpr (kMass) {
        unsigned big = __ballot_sync(kFull, bin >= 0 && lane == leader && group >= 4);
        while (big) {
          const int l = __ffs(big) - 1;
          big &= big - 1;
          const int gb = __shfl_sync(kFull, bin, l);
          const u64 s = detail::warp_sum<u64>(bin == gb ? m : 0ull);
          if (lane == l && s) atomicAdd(&sh.mass[gb], s);
        }
        if (bin >= 0 && group < 4 && m) atomicAdd(&sh.mass[bin], m);
      }
    }
    __syncthreads();
    if (warp == 0) {
      // Lane l owns bins [8l, 8l + 8); suffix sums over lanes, then a walk down inside the lane.
      u64 lm[8];
      unsigned lc[8];
      u64 lane_sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        lc[j] = sh.count[lane * 8 + j];
        lm[j] = kMass ? sh.mass[lane * 8 + j] : static_cast<u64>(lc[j]);
        lane_sum += lm[j];
      }
      u64 suffix = lane_sum;  // sum over lanes >= lane
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const u64 t = __shfl_down_sync(kFull, suffix, o);
        if (lane + o < 32) suffix += t;
      }
      const u64 lane_above = above + (suffix - lane_sum);
      int cand = -1, lowest = -1;
      u64 cand_above = 0, running = lane_above, lowest_above = 0;
#pragma unroll
      for (int j = 7; j >= 0; --j) {
        if (lc[j] > 0) {
          if (cand < 0 && running + lm[j] >= target) cand = j, cand_above = running;
          lowest = j, lowest_above = running;
        }
        running += lm[j];
      }
      const unsigned has_cand = __ballot_sync(kFull, cand >= 0);
      const unsigned has_any = __ballot_sync(kFull, lowest >= 0);
      if (has_cand) {
        const int src = 31 - __clz(has_cand);  // highest lane holding a candidate
        if (lane == src) sh.bin = lane * 8 + cand, sh.above = cand_above;
      } else if (has_any) {
        const int src = __ffs(has_any) - 1;  // lowest non-empty bin
        if (lane == src) sh.bin = lane * 8 + lowest, sh.above = lowest_above;
      } else if (lane == 0) {
        sh.bin = 0, sh.above = above;  // nothing selected at all
      }
    }
    __syncthreads();
    const unsigned b = sh.bin;
    prefix |= b << shift;
    above = sh.above;
    at_count = sh.count[b];
    at_measure = kMass ? sh.mass[b] : static_cast<u64>(sh.count[b]);
    __syncthreads();
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(int32_t* __restrict__ out_ids, float* __restrict__ logits_all, int64_t vocab,
                  SamplingRowParams params, const int32_t* __restrict__ history_ids,
                  const int32_t* __restrict__ history_offsets,
                  const int32_t* __restrict__ eos_mask_ids, int64_t max_eos,
                  uint32_t* __restrict__ seen_bitmaps) {
  detail::pdl_enter();
  __shared__ SelectShared sh;
  __shared__ u64 warp_tot[kWarps];
  __shared__ int found;
  const int64_t row = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float* logits = logits_all + row * vocab;

  // ---- repetition penalty: each distinct history id once ----
  const float penalty = params.repetition_penalty ? params.repetition_penalty[row] : 1.f;
  if (penalty != 1.f && history_ids && history_offsets) {
    const int64_t h0 = history_offsets[row], h1 = history_offsets[row + 1];
    uint32_t* seen = seen_bitmaps ? seen_bitmaps + row * bitmap_words(vocab) : nullptr;
    if (seen) {
      for (int64_t i = threadIdx.x; i < bitmap_words(vocab); i += kThreads) seen[i] = 0;
      __syncthreads();
    }
    for (int64_t h = h0 + threadIdx.x; h < h1; h += kThreads) {
      const int32_t t = history_ids[h];
      if (t < 0 || t >= vocab) continue;
      bool first;
      if (seen) {
        const uint32_t bit = 1u << (t & 31);
        first = !(atomicOr(&seen[t >> 5], bit) & bit);
      } else {
        first = true;
        for (int64_t j = h0; j < h && first; ++j) first = history_ids[j] != t;
      }
      if (first) {
        const float x = logits[t];
        logits[t] = x < 0.f ? x * penalty : x / penalty;
      }
    }
    __syncthreads();
  }
  // ---- min-new-tokens EOS mask (the host leaves -1 for rows past min_new_tokens) ----
  if (eos_mask_ids) {
    for (int64_t j = threadIdx.x; j < max_eos; j += kThreads) {
      const int32_t e = eos_mask_ids[row * max_eos + j];
      if (e >= 0 && e < vocab) logits[e] = -INFINITY;
    }
  }
  __syncthreads();

  const float temperature = params.temperature ? params.temperature[row] : 1.f;
  const bool do_sample = params.do_sample && params.do_sample[row] != 0 && temperature > 0.f;
  const bool scale = do_sample && temperature != 1.f;
  auto value = [&](int64_t i) { return scale ? logits[i] / temperature : logits[i]; };

  // ---- argmax of the (scaled) values: first maximum; also the softmax shift ----
  float best = -INFINITY;
  int64_t best_i = INT64_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
    const float v = value(i);
    if (v > best) best = v, best_i = i;  // per thread indices ascend: first max kept
  }
  {
    __shared__ float sv[kWarps];
    __shared__ int64_t si[kWarps];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFull, best, o);
      const int64_t oi = __shfl_xor_sync(kFull, best_i, o);
      if (ov > best || (ov == best && oi < best_i)) best = ov, best_i = oi;
    }
    if (lane == 0) sv[warp] = best, si[warp] = best_i;
    __syncthreads();
    best = sv[lane], best_i = si[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFull, best, o);
      const int64_t oi = __shfl_xor_sync(kFull, best_i, o);
      if (ov > best || (ov == best && oi < best_i)) best = ov, best_i = oi;
    }
    __syncthreads();
  }
  const int32_t argmax = best_i < vocab ? static_cast<int32_t>(best_i) : 0;
  if (!do_sample || !(best > -INFINITY)) {
    if (threadIdx.x == 0) out_ids[row] = argmax;
    return;
  }
  const float vmax = best;

  // ---- top-k: keep values >= the k-th largest ----
  const int32_t top_k = params.top_k ? params.top_k[row] : 0;
  uint32_t kth_key = 0;
  if (top_k > 0 && top_k < vocab) {
    u64 above, at_m;
    unsigned at_c;
    kth_key = radix_select<false>(
        vocab, [&](int64_t i, uint32_t* k) { return *k = order_key(value(i)), true; },
        [](int64_t) { return 0ull; }, static_cast<u64>(top_k), sh, above, at_m, at_c);
  }
  auto mass = [&](int64_t i) -> u64 {
    const float v = value(i);
    if (order_key(v) < kth_key) return 0ull;
    const float e = expf(v - vmax);
    return e > 0.f ? __float2ull_rz(e * kFixScale) : 0ull;  // NaN/-inf: no mass
  };

  // ---- top-p: keep the smallest value whose strictly-larger mass is < top_p ----
  const float top_p = params.top_p ? params.top_p[row] : 1.f;
  uint32_t p_key = 0;  // keep keys > p_key, and key == p_key from index p_index up
  int64_t p_index = 0;
  if (top_p < 1.f) {
    u64 z = 0;
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) z += mass(i);
    z = detail::block_sum<u64>(z);
    const u64 target =
        static_cast<u64>(fmax(static_cast<double>(top_p), 0.0) * static_cast<double>(z));
    u64 above, at_m;
    unsigned at_c;
    p_key = radix_select<true>(
        vocab, [&](int64_t i, uint32_t* k) { return *k = order_key(value(i)), true; }, mass, target,
        sh, above, at_m, at_c);
    // Ties at p_key have equal mass e; in HF's ascending stable order the lower indices go
    // first, so the t highest-index ties survive, t = #{r >= 0 : above + r e < target}.
    u64 t = at_c;
    if (at_c > 1 && at_m > 0) {
      const u64 e = at_m / at_c;
      t = target <= above ? 1 : (target - above + e - 1) / e;
      t = t < 1 ? 1 : (t > at_c ? at_c : t);
    }
    if (t < at_c) {
      u64 ia, im;
      unsigned ic;
      p_index = radix_select<false>(
          vocab,
          [&](int64_t i, uint32_t* k) {
            *k = static_cast<uint32_t>(i);
            return order_key(value(i)) == p_key;
          },
          [](int64_t) { return 0ull; }, t, sh, ia, im, ic);
    }
  }
  auto kept_mass = [&](int64_t i) -> u64 {
    const float v = value(i);
    const uint32_t k = order_key(v);
    if (k < kth_key || k < p_key || (k == p_key && i < p_index)) return 0ull;
    const float e = expf(v - vmax);
    return e > 0.f ? __float2ull_rz(e * kFixScale) : 0ull;
  };

  // ---- draw: first index whose inclusive kept-mass prefix exceeds r (index order) ----
  const int64_t seg = (vocab + kWarps * 32 - 1) / (kWarps * 32) * 32;  // per warp, multiple of 32
  const int64_t s0 = warp * seg, s1 = min(vocab, s0 + seg);
  u64 part = 0;
  for (int64_t i = s0 + lane; i < s1; i += 32) part += kept_mass(i);
  part = detail::warp_sum<u64>(part);
  if (lane == 0) warp_tot[warp] = part;
  if (threadIdx.x == 0) found = -1;
  __syncthreads();
  u64 total = 0, base = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) base += warp_tot[w];
    total += warp_tot[w];
  }
  if (total == 0) {
    if (threadIdx.x == 0) out_ids[row] = argmax;
    return;
  }
  const double u = philox_uniform(params.seed ? params.seed[row] : 0ull,
                                  params.step ? static_cast<uint32_t>(params.step[row]) : 0u);
  u64 r = static_cast<u64>(u * static_cast<double>(total));
  if (r >= total) r = total - 1;
  if (r >= base && r < base + warp_tot[warp]) {
    u64 acc = base;
    for (int64_t c = s0; c < s1; c += 32) {
      const int64_t i = c + lane;
      const u64 m = i < s1 ? kept_mass(i) : 0ull;
      u64 incl = m;  // inclusive scan over the lanes
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const u64 t = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += t;
      }
      const unsigned hit = __ballot_sync(kFull, m > 0 && acc + incl > r);
      if (hit) {
        if (lane == 0) found = static_cast<int>(c + __ffs(hit) - 1);
        break;
      }
      acc += __shfl_sync(kFull, incl, 31);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) out_ids[row] = found >= 0 ? found : argmax;
}

}  // namespace

size_t sample_workspace_bytes(int64_t rows, int64_t vocab) {
  return static_cast<size_t>(rows) * static_cast<size_t>(bitmap_words(vocab)) * sizeof(uint32_t);
}

void sample(int32_t* out_ids, float* logits, int64_t rows, int64_t vocab,
            const SamplingRowParams& params, const int32_t* history_ids,
            const int32_t* history_offsets, const int32_t* eos_mask_ids, int64_t max_eos,
            void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (rows <= 0 || vocab <= 0) return;
  uint32_t* seen = workspace && workspace_bytes >= sample_workspace_bytes(rows, vocab)
                       ? static_cast<uint32_t*>(workspace)
                       : nullptr;
  cuda::launch(sample_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), 0, stream, out_ids,
               logits, vocab, params, history_ids, history_offsets,
               max_eos > 0 ? eos_mask_ids : nullptr, max_eos, seen);
  KILN_CUDA_LAUNCH_CHECK("sample");
}

}  // namespace kiln::ops::cuda
