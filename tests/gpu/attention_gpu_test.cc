// CUDA paged attention and kv_cache_write against their CPU twins (the oracle), on the same
// (dtype-rounded) inputs: fp32 / fp16 / bf16, MHA / GQA / MQA, head_dim 64 / 128 / 80 / 256 and odd
// ones for the scalar fallback, odd block sizes, and batches that mix full prefills, chunked
// prefills and long-context decode rows (split-K) in one launch; non-causal attention (encoder
// self-attention, cross-attention over thousands of keys, decoder rows outnumbering the encoder's)
// and T5's relative position bias, causal or not, over head dims 64 / 32 / 8 / 9 / 5. Outputs and
// workspace are
// poisoned (NaN) before each launch; every output element must be written. A decode timing test
// prints achieved K/V bandwidth (never asserts on time). Skipped without a CUDA device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/kernels.h"
#include "ops/cuda/kernels.h"

namespace kiln {
namespace {

namespace cuda = ops::cuda;

bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define CUDA_OK(call)                                                      \
  do {                                                                     \
    const cudaError_t e_ = (call);                                         \
    ASSERT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_); \
  } while (0)

enum class DT { kF32, kF16, kBF16 };
const char* dt_name(DT d) { return d == DT::kF32 ? "f32" : d == DT::kF16 ? "f16" : "bf16"; }

template <class T>
T from_float(float x) {
  if constexpr (std::is_same_v<T, float>)
    return x;
  else if constexpr (std::is_same_v<T, __half>)
    return __float2half(x);
  else
    return __float2bfloat16(x);
}
template <class T>
float to_float(T x) {
  if constexpr (std::is_same_v<T, float>)
    return x;
  else if constexpr (std::is_same_v<T, __half>)
    return __half2float(x);
  else
    return __bfloat162float(x);
}

// Device buffer of n elements (RAII).
template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(count, 1) * sizeof(T)) !=
        cudaSuccess)
      p = nullptr;
  }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  void upload(const std::vector<T>& h) {
    cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

// Random floats rounded through T, as floats (CPU) and as T (GPU).
template <class T>
void random_rounded(size_t n, float stddev, std::mt19937_64& rng, std::vector<float>& f,
                    std::vector<T>& t) {
  std::normal_distribution<float> nd(0.f, stddev);
  f.resize(n);
  t.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float x = nd(rng);
    if (x == 0.f) x = 1e-3f;  // never zeros
    t[i] = from_float<T>(x);
    f[i] = to_float(t[i]);
  }
}

double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

double tolerance(DT d) { return d == DT::kF32 ? 1e-5 : d == DT::kF16 ? 2e-3 : 1.5e-2; }

struct Seq {
  int q_len, kv_len;  // query rows this step; keys in total after this step
};

struct Case {
  DT dt;
  int heads, kv_heads, head_dim, block_size;
  bool misalign_q = false;  // q one element off 16 bytes: forces the scalar fallback
};

std::string case_name(const Case& c) {
  return std::string(dt_name(c.dt)) + "_h" + std::to_string(c.heads) + "_kv" +
         std::to_string(c.kv_heads) + "_d" + std::to_string(c.head_dim) + "_bs" +
         std::to_string(c.block_size) + (c.misalign_q ? "_misaligned" : "");
}

// Full prefills of odd lengths, chunked prefills, multi-row and long-context decode rows.
const std::vector<Seq> kMixed = {
    {1, 1},    {7, 7},    {63, 63},  {64, 64},  {65, 65}, {300, 300}, {37, 137},  {128, 628},
    {1, 2000}, {1, 4999}, {3, 1500}, {1, 3333}, {2, 2},   {1, 17},    {20, 1000}, {16, 1281}};
const std::vector<Seq> kDecode = {{1, 1},    {1, 100},  {1, 513},  {1, 1024},
                                  {1, 2048}, {1, 4097}, {1, 3000}, {1, 64}};
// Every context <= 256 keys (one wide decode-row chunk when the grid is a single wave).
const std::vector<Seq> kShortDecode = {{1, 1},   {1, 17},  {1, 128}, {1, 129},
                                       {1, 200}, {1, 256}, {1, 64}};
const std::vector<Seq> kPrefill = {{129, 129}, {64, 64}, {5, 5}, {200, 450}};

// Encoder self-attention (q_len == kv_len), ragged; 300 rows take the 16-bit context kernel.
const std::vector<Seq> kEncoder = {{1, 1},     {7, 7}, {63, 63}, {64, 64},  {65, 65},
                                   {300, 300}, {2, 2}, {17, 17}, {130, 130}};
// Cross-attention: a few decoder rows over encoder K/V crossing many blocks (split-K), and
// decoder prefills (more rows than encoder keys, no bias then).
const std::vector<Seq> kCross = {{1, 300}, {3, 517}, {2, 129}, {1, 1},   {1, 2000},
                                 {3, 3},   {2, 64},  {1, 777}, {16, 700}};
const std::vector<Seq> kCrossPrefill = {{40, 10}, {1, 300}, {70, 333}, {5, 1}, {2, 900}};

// Masking and bias of one launch. radius 0: no bias. kv_slack: max_kv_len is an upper bound
// (CUDA-graph capture) this much above the longest sequence.
struct Variant {
  bool causal = true;
  int radius = 0;
  int kv_slack = 0;
};

// Runs one paged_attention launch over `seqs` and compares with the CPU twin.
template <class T>
void run_attention(const Case& c, const std::vector<Seq>& seqs, uint64_t seed, Variant var = {},
                   bool with_counters = false) {
  std::mt19937_64 rng(seed);
  const int H = c.heads, KVH = c.kv_heads, D = c.head_dim, BS = c.block_size;
  const int S = static_cast<int>(seqs.size());
  int max_q = 0, max_kv = 0, max_blocks = 0, total_blocks = 0, n = 0;
  for (const Seq& s : seqs) {
    max_q = std::max(max_q, s.q_len);
    max_kv = std::max(max_kv, s.kv_len);
    const int nb = (s.kv_len + BS - 1) / BS;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
    n += s.q_len;
  }
  const int num_blocks = total_blocks + 7;  // spare blocks hold random data nobody may read
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(S) * max_blocks, num_blocks - 1), cu(S + 1, 0),
      kvl(S), token_seq, token_kv;
  size_t next = 0;
  for (int s = 0; s < S; ++s) {
    for (int b = 0; b < (seqs[s].kv_len + BS - 1) / BS; ++b)
      tables[s * max_blocks + b] = ids[next++];
    cu[s + 1] = cu[s] + seqs[s].q_len;
    kvl[s] = seqs[s].kv_len;
    for (int i = 0; i < seqs[s].q_len; ++i) {
      token_seq.push_back(s);
      token_kv.push_back(var.causal ? seqs[s].kv_len - seqs[s].q_len + i + 1 : seqs[s].kv_len);
    }
  }
  const int64_t q_stride = static_cast<int64_t>(H + 2 * KVH) * D + (c.misalign_q ? 1 : 0);
  const size_t pool_n = static_cast<size_t>(num_blocks) * KVH * BS * D;
  std::vector<float> qf, kf, vf;
  std::vector<T> qt, kt, vt;
  random_rounded<T>(static_cast<size_t>(n) * q_stride + 1, 1.5f, rng, qf, qt);
  random_rounded<T>(pool_n, 1.f, rng, kf, kt);
  random_rounded<T>(pool_n, 1.f, rng, vf, vt);
  const int q_off = c.misalign_q ? 1 : 0;
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  std::vector<float> bias;
  if (var.radius > 0) {
    std::normal_distribution<float> nd(0.f, 2.f);
    bias.resize(static_cast<size_t>(H) * (2 * var.radius + 1));
    for (float& b : bias) b = nd(rng);
  }

  std::vector<float> ref(static_cast<size_t>(n) * H * D);
  ops::cpu::paged_attention(ref.data(), qf.data() + q_off, q_stride, kf.data(), vf.data(),
                            tables.data(), token_seq.data(), token_kv.data(), n, H, KVH, D, BS,
                            max_blocks, scale, cu.data(), kvl.data(),
                            bias.empty() ? nullptr : bias.data(), var.radius);

  DevBuf<T> dq(qt.size()), dk(pool_n), dv(pool_n), dout(ref.size());
  DevBuf<int32_t> dtab(tables.size()), dcu(cu.size()), dkvl(kvl.size());
  DevBuf<float> dbias(bias.size());
  ASSERT_TRUE(dq.p && dk.p && dv.p && dout.p && dtab.p && dcu.p && dkvl.p && dbias.p);
  dbias.upload(bias);
  dq.upload(qt);
  dk.upload(kt);
  dv.upload(vt);
  dtab.upload(tables);
  dcu.upload(cu);
  dkvl.upload(kvl);
  cuda::PagedAttentionArgs a;
  a.num_seqs = S;
  a.num_tokens = n;
  a.max_q_len = max_q;
  a.max_kv_len = max_kv + var.kv_slack;
  a.heads = H;
  a.kv_heads = KVH;
  a.head_dim = D;
  a.block_size = BS;
  a.max_blocks = max_blocks;
  a.scale = scale;
  a.causal = var.causal;
  a.position_bias = bias.empty() ? nullptr : dbias.p;
  a.bias_radius = var.radius;
  const size_t ws_bytes = cuda::paged_attention_workspace_bytes(a);
  DevBuf<unsigned char> ws(ws_bytes);
  // Arrival counters (split decode-row launches combine in their last CTA): zero on entry, and
  // must be zero again afterwards.
  DevBuf<unsigned> counters(static_cast<size_t>(S) * H);
  if (with_counters) {
    CUDA_OK(cudaMemset(counters.p, 0, counters.n * sizeof(unsigned)));
    a.counters = counters.p;
    a.num_counters = static_cast<int64_t>(counters.n);
  }
  CUDA_OK(cudaMemset(dout.p, 0xff, ref.size() * sizeof(T)));  // NaN in every dtype
  if (ws_bytes) CUDA_OK(cudaMemset(ws.p, 0xff, ws_bytes));
  cuda::paged_attention<T>(dout.p, dq.p + q_off, q_stride, dk.p, dv.p, dtab.p, dcu.p, dkvl.p, a,
                           ws_bytes ? ws.p : nullptr, nullptr);
  CUDA_OK(cudaGetLastError());
  CUDA_OK(cudaDeviceSynchronize());
  if (with_counters) {
    const std::vector<unsigned> left = counters.download();
    EXPECT_EQ(std::count(left.begin(), left.end(), 0u), static_cast<long>(left.size()))
        << "arrival counters not left at zero";
  }
  const std::vector<T> got_t = dout.download();
  std::vector<float> got(got_t.size());
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    got[i] = to_float(got_t[i]);
    if (!std::isfinite(got[i]) && bad++ == 0) first_bad = i;
  }
  ASSERT_EQ(bad, 0u) << "unwritten/non-finite outputs, first at token " << first_bad / (H * D)
                     << " head " << (first_bad / D) % H << " dim " << first_bad % D;
  const double err = rel_error(got, ref);
  EXPECT_LT(err, tolerance(c.dt)) << case_name(c) << " ws " << ws_bytes << " causal " << var.causal
                                  << " bias radius " << var.radius;
  // Per-sequence errors locate a failure.
  if (err >= tolerance(c.dt)) {
    for (int s = 0; s < S; ++s) {
      const size_t b = static_cast<size_t>(cu[s]) * H * D;
      const size_t e = static_cast<size_t>(cu[s + 1]) * H * D;
      std::vector<float> gs(got.begin() + b, got.begin() + e), rs(ref.begin() + b, ref.begin() + e);
      std::printf("  seq %d (q %d, kv %d): rel err %.3g\n", s, seqs[s].q_len, seqs[s].kv_len,
                  rel_error(gs, rs));
    }
  }
}

class PagedAttentionGpu : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  }
  template <class F>
  void dispatch(F&& f) {
    switch (GetParam().dt) {
      case DT::kF32:
        f(float{});
        break;
      case DT::kF16:
        f(__half{});
        break;
      case DT::kBF16:
        f(__nv_bfloat16{});
        break;
    }
  }
};

TEST_P(PagedAttentionGpu, MixedBatch) {
  dispatch([&](auto t) { run_attention<decltype(t)>(GetParam(), kMixed, 101); });
}
TEST_P(PagedAttentionGpu, DecodeOnly) {
  dispatch([&](auto t) { run_attention<decltype(t)>(GetParam(), kDecode, 202); });
  // Split decode-row launches combining in their last CTA.
  dispatch([&](auto t) {
    run_attention<decltype(t)>(GetParam(), kDecode, 203, {}, true);
    run_attention<decltype(t)>(GetParam(), kDecode, 204, {true, 0, 3000}, true);
    run_attention<decltype(t)>(GetParam(), kShortDecode, 205, {}, true);
    run_attention<decltype(t)>(GetParam(), kShortDecode, 206);
  });
}
TEST_P(PagedAttentionGpu, PrefillOnly) {
  dispatch([&](auto t) { run_attention<decltype(t)>(GetParam(), kPrefill, 303); });
}

// Non-causal attention and the relative position bias, over their own shapes.
class PagedAttentionVariantsGpu : public PagedAttentionGpu {};

TEST_P(PagedAttentionVariantsGpu, CausalBias) {
  dispatch([&](auto t) {
    using T = decltype(t);
    run_attention<T>(GetParam(), kMixed, 401, {true, 24, 0});
    run_attention<T>(GetParam(), kDecode, 402, {true, 128, 0});
    run_attention<T>(GetParam(), kDecode, 404, {true, 0, 3000});          // graph-style upper bound
    run_attention<T>(GetParam(), kDecode, 405, {true, 128, 3000}, true);  // + last-CTA combine
    run_attention<T>(GetParam(), kPrefill, 403, {true, 2000, 0});
  });
}
TEST_P(PagedAttentionVariantsGpu, EncoderNonCausal) {
  dispatch([&](auto t) {
    using T = decltype(t);
    run_attention<T>(GetParam(), kEncoder, 501, {false, 0, 0});
    run_attention<T>(GetParam(), kEncoder, 502, {false, 32, 0});
    run_attention<T>(GetParam(), kEncoder, 503, {false, 512, 0});
  });
}
TEST_P(PagedAttentionVariantsGpu, CrossNonCausal) {
  dispatch([&](auto t) {
    using T = decltype(t);
    run_attention<T>(GetParam(), kCross, 601, {false, 0, 0});
    run_attention<T>(GetParam(), kCross, 602, {false, 0, 1500});  // graph-style upper bound
    run_attention<T>(GetParam(), kCross, 603, {false, 64, 0});
    run_attention<T>(GetParam(), kCrossPrefill, 604, {false, 0, 0});
  });
}

std::vector<Case> variant_cases() {
  std::vector<Case> v;
  for (DT dt : {DT::kF32, DT::kF16, DT::kBF16}) {
    v.push_back({dt, 8, 8, 64, 16});
    v.push_back({dt, 8, 2, 64, 16});   // GQA
    v.push_back({dt, 32, 1, 64, 16});  // MQA, two slices of 16 query heads
    v.push_back({dt, 5, 5, 32, 7});
    v.push_back({dt, 6, 2, 8, 16});          // one 16-byte chunk per 16-bit row
    v.push_back({dt, 4, 2, 9, 5});           // fallback
    v.push_back({dt, 3, 3, 5, 4});           // fallback
    v.push_back({dt, 4, 2, 128, 16, true});  // misaligned q: fallback
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionVariantsGpu, ::testing::ValuesIn(variant_cases()),
                         [](const auto& info) { return case_name(info.param); });

std::vector<Case> attention_cases() {
  std::vector<Case> v;
  for (DT dt : {DT::kF32, DT::kF16, DT::kBF16}) {
    v.push_back({dt, 12, 12, 64, 16});
    v.push_back({dt, 25, 25, 64, 32});
    v.push_back({dt, 8, 2, 128, 16});
    v.push_back({dt, 8, 1, 128, 7});
    v.push_back({dt, 8, 2, 80, 5});
    v.push_back({dt, 4, 4, 256, 32});
    v.push_back({dt, 32, 1, 64, 16});       // MQA, group > 16 query heads per CTA: two slices
    v.push_back({dt, 6, 2, 36, 16});        // fallback for 16-bit (36 % 8), vector path for fp32
    v.push_back({dt, 4, 2, 9, 5});          // fallback for every dtype
    v.push_back({dt, 4, 2, 64, 16, true});  // misaligned q: fallback
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionGpu, ::testing::ValuesIn(attention_cases()),
                         [](const auto& info) { return case_name(info.param); });

// ---- kv_cache_write ---------------------------------------------------------------------------

template <class T>
void run_kv_write(int heads, int kv_heads, int D, int bs, int extra_stride, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int n = 57, num_blocks = 40;
  const int64_t stride = static_cast<int64_t>(heads + 2 * kv_heads) * D + extra_stride;
  std::vector<int32_t> slots(num_blocks * bs);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng);
  slots.resize(n);
  const size_t pool_n = static_cast<size_t>(num_blocks) * kv_heads * bs * D;
  std::vector<float> qkvf, kpf, vpf;
  std::vector<T> qkvt, kpt, vpt;
  random_rounded<T>(static_cast<size_t>(n) * stride, 1.f, rng, qkvf, qkvt);
  random_rounded<T>(pool_n, 1.f, rng, kpf, kpt);
  random_rounded<T>(pool_n, 1.f, rng, vpf, vpt);
  const int64_t k_off = static_cast<int64_t>(heads) * D, v_off = k_off + kv_heads * D;
  ops::cpu::kv_cache_write(kpf.data(), vpf.data(), qkvf.data() + k_off, qkvf.data() + v_off, stride,
                           slots.data(), n, kv_heads, bs, D);
  DevBuf<T> dqkv(qkvt.size()), dk(pool_n), dv(pool_n);
  DevBuf<int32_t> dslots(n);
  ASSERT_TRUE(dqkv.p && dk.p && dv.p && dslots.p);
  dqkv.upload(qkvt);
  dk.upload(kpt);
  dv.upload(vpt);
  dslots.upload(slots);
  cuda::kv_cache_write<T>(dk.p, dv.p, dqkv.p + k_off, dqkv.p + v_off, stride, dslots.p, n, kv_heads,
                          bs, D, nullptr);
  CUDA_OK(cudaGetLastError());
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<T> gk = dk.download(), gv = dv.download();
  size_t mismatches = 0;
  for (size_t i = 0; i < pool_n; ++i)
    mismatches += (to_float(gk[i]) != kpf[i]) + (to_float(gv[i]) != vpf[i]);
  EXPECT_EQ(mismatches, 0u) << "heads " << heads << " kv " << kv_heads << " d " << D << " bs " << bs
                            << " extra stride " << extra_stride;
}

TEST(KvCacheWriteGpu, MatchesCpu) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  for (auto [h, kvh, d, bs, extra] :
       std::vector<std::tuple<int, int, int, int, int>>{{12, 12, 64, 16, 0},
                                                        {8, 2, 128, 7, 0},
                                                        {4, 2, 9, 5, 0},
                                                        {4, 4, 64, 16, 3},
                                                        {6, 2, 36, 32, 0}}) {
    run_kv_write<float>(h, kvh, d, bs, extra, 7);
    run_kv_write<__half>(h, kvh, d, bs, extra, 8);
    run_kv_write<__nv_bfloat16>(h, kvh, d, bs, extra, 9);
  }
}

// ---- paged attention with this step's K/V appended -------------------------------------------

// PagedAttentionArgs::slots (ops::paged_attention_append) must equal kv_cache_write followed by
// paged_attention bit for bit — outputs and both pools — whether the decode-row kernel stores the
// rows itself (decode-only MHA) or a write runs first (GQA, mixed batches, fallback head dims).
// Some tokens have slot -1 (nothing stored; their key is read from the pool).
template <class T>
void run_append(int H, int KVH, int D, int BS, const std::vector<Seq>& seqs, int slack,
                uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int S = static_cast<int>(seqs.size());
  int max_q = 0, max_kv = 0, max_blocks = 0, total_blocks = 0, n = 0;
  for (const Seq& s : seqs) {
    max_q = std::max(max_q, s.q_len);
    max_kv = std::max(max_kv, s.kv_len);
    max_blocks = std::max(max_blocks, (s.kv_len + BS - 1) / BS);
    total_blocks += (s.kv_len + BS - 1) / BS;
    n += s.q_len;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(S) * max_blocks, num_blocks - 1), cu(S + 1, 0),
      kvl(S), slots;
  size_t next = 0;
  for (int s = 0; s < S; ++s) {
    const int nb = (seqs[s].kv_len + BS - 1) / BS;
    for (int b = 0; b < nb; ++b) tables[s * max_blocks + b] = ids[next++];
    cu[s + 1] = cu[s] + seqs[s].q_len;
    kvl[s] = seqs[s].kv_len;
    for (int i = 0; i < seqs[s].q_len; ++i) {
      const int pos = seqs[s].kv_len - seqs[s].q_len + i;
      slots.push_back(s % 5 == 3 ? -1 : tables[s * max_blocks + pos / BS] * BS + pos % BS);
    }
  }
  const int64_t stride = static_cast<int64_t>(H + 2 * KVH) * D;  // q | k | v rows
  const size_t pool_n = static_cast<size_t>(num_blocks) * KVH * BS * D;
  std::vector<float> f;
  std::vector<T> qkv, kt, vt;
  random_rounded<T>(static_cast<size_t>(n) * stride, 1.5f, rng, f, qkv);
  random_rounded<T>(pool_n, 1.f, rng, f, kt);
  random_rounded<T>(pool_n, 1.f, rng, f, vt);
  DevBuf<T> dqkv(qkv.size()), k_ref(pool_n), v_ref(pool_n), k_app(pool_n), v_app(pool_n);
  DevBuf<T> out_ref(static_cast<size_t>(n) * H * D), out_app(static_cast<size_t>(n) * H * D);
  DevBuf<int32_t> dtab(tables.size()), dcu(cu.size()), dkvl(kvl.size()), dslots(slots.size());
  ASSERT_TRUE(dqkv.p && k_ref.p && v_ref.p && k_app.p && v_app.p && out_ref.p && out_app.p);
  dqkv.upload(qkv);
  k_ref.upload(kt);
  v_ref.upload(vt);
  k_app.upload(kt);
  v_app.upload(vt);
  dtab.upload(tables);
  dcu.upload(cu);
  dkvl.upload(kvl);
  dslots.upload(slots);
  cuda::PagedAttentionArgs a;
  a.num_seqs = S;
  a.num_tokens = n;
  a.max_q_len = max_q;
  a.max_kv_len = max_kv + slack;
  a.heads = H;
  a.kv_heads = KVH;
  a.head_dim = D;
  a.block_size = BS;
  a.max_blocks = max_blocks + (slack + BS - 1) / BS;
  a.scale = 1.f / std::sqrt(static_cast<float>(D));
  // Graph-style bound: wider tables (extra columns unused).
  std::vector<int32_t> wide(static_cast<size_t>(S) * a.max_blocks, num_blocks - 1);
  for (int s = 0; s < S; ++s)
    for (int b = 0; b < max_blocks; ++b) wide[s * a.max_blocks + b] = tables[s * max_blocks + b];
  DevBuf<int32_t> dwide(wide.size());
  dwide.upload(wide);
  const size_t ws_bytes = cuda::paged_attention_workspace_bytes(a);
  DevBuf<unsigned char> ws(ws_bytes);
  const T* q = dqkv.p;
  const T* k = dqkv.p + static_cast<int64_t>(H) * D;
  const T* v = k + static_cast<int64_t>(KVH) * D;
  CUDA_OK(cudaMemset(out_ref.p, 0xff, out_ref.n * sizeof(T)));
  CUDA_OK(cudaMemset(out_app.p, 0xff, out_app.n * sizeof(T)));
  // Third reference: the write completed (synchronized) before the attention starts, so nothing
  // the attention requests before its PDL wait can precede the write of the newest rows.
  DevBuf<T> k_sync(pool_n), v_sync(pool_n), out_sync(static_cast<size_t>(n) * H * D);
  ASSERT_TRUE(k_sync.p && v_sync.p && out_sync.p);
  k_sync.upload(kt);
  v_sync.upload(vt);
  cuda::kv_cache_write<T>(k_sync.p, v_sync.p, k, v, stride, dslots.p, n, KVH, BS, D, nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  cuda::paged_attention<T>(out_sync.p, q, stride, k_sync.p, v_sync.p, dwide.p, dcu.p, dkvl.p, a,
                           ws_bytes ? ws.p : nullptr, nullptr);
  CUDA_OK(cudaDeviceSynchronize());
  cuda::kv_cache_write<T>(k_ref.p, v_ref.p, k, v, stride, dslots.p, n, KVH, BS, D, nullptr);
  cuda::paged_attention<T>(out_ref.p, q, stride, k_ref.p, v_ref.p, dwide.p, dcu.p, dkvl.p, a,
                           ws_bytes ? ws.p : nullptr, nullptr);
  cuda::PagedAttentionArgs b = a;
  b.k_new = k;
  b.v_new = v;
  b.kv_stride = stride;
  b.slots = dslots.p;
  cuda::paged_attention<T>(out_app.p, q, stride, k_app.p, v_app.p, dwide.p, dcu.p, dkvl.p, b,
                           ws_bytes ? ws.p : nullptr, nullptr);
  CUDA_OK(cudaGetLastError());
  CUDA_OK(cudaDeviceSynchronize());
  auto same = [](const std::vector<T>& x, const std::vector<T>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
  };
  const std::vector<T> o1 = out_ref.download(), o2 = out_app.download();
  size_t nan = 0;
  for (const T& x : o2) nan += !std::isfinite(to_float(x));
  EXPECT_EQ(nan, 0u) << "unwritten outputs";
  EXPECT_TRUE(same(o1, o2)) << "outputs differ: H " << H << " KVH " << KVH << " D " << D;
  EXPECT_TRUE(same(out_sync.download(), o1))
      << "write then attend differs from the synchronized pair: H " << H << " D " << D;
  EXPECT_TRUE(same(k_ref.download(), k_app.download())) << "K pools differ";
  EXPECT_TRUE(same(v_ref.download(), v_app.download())) << "V pools differ";
}

TEST(PagedAttentionAppendGpu, EqualsWriteThenAttend) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  const std::vector<Seq> decode = {{1, 1}, {1, 17}, {1, 129}, {1, 700}, {1, 2049}, {1, 64}};
  const std::vector<Seq> mixed = {{1, 300}, {40, 40}, {1, 5}, {7, 90}};
  const std::vector<Seq> short_decode = {{1, 1}, {1, 130}, {1, 256}, {1, 77}};  // wide kernel
  run_append<__half>(25, 25, 64, 16, short_decode, 0, 9);
  run_append<float>(16, 16, 64, 16, short_decode, 0, 10);
  for (int slack : {0, 1000}) {
    run_append<__half>(12, 12, 64, 16, decode, slack, 1);  // decode-row kernel stores the rows
    run_append<__nv_bfloat16>(4, 4, 128, 7, decode, slack, 2);
    run_append<float>(5, 5, 32, 16, decode, slack, 3);
    run_append<__half>(8, 2, 64, 16, decode, slack, 4);   // GQA: write, then the decode kernel
    run_append<__half>(12, 12, 64, 16, mixed, slack, 5);  // prefill rows: write first
    run_append<__half>(4, 4, 36, 16, decode, slack, 6);   // head_dim 36: fallback kernel
  }
  // More CTAs than one wave: a write, then the non-APPEND decode-row kernel right behind it.
  std::vector<Seq> many;
  for (int i = 0; i < 96; ++i) many.push_back({1, 1 + (i * 37) % 300});
  run_append<__half>(25, 25, 64, 16, many, 0, 7);
  run_append<__nv_bfloat16>(25, 25, 64, 16, many, 200, 8);
  std::vector<Seq> many_short;  // <= 256 keys beyond one wave: a write, then 128-key chunks
  for (int i = 0; i < 96; ++i) many_short.push_back({1, 1 + (i * 37) % 256});
  run_append<__half>(25, 25, 64, 16, many_short, 0, 11);
  run_append<float>(16, 16, 64, 16, many_short, 0, 12);
}

// ---- timing (prints only) ---------------------------------------------------------------------

TEST(PagedAttentionGpuTiming, DecodeFp16) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device";
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  const int H = 25, D = 64, BS = 16;
  std::printf("paged_attention decode, fp16, heads %d, head_dim %d, block %d on %s\n", H, D, BS,
              prop.name);
  for (int batch : {1, 64}) {
    for (int ctx : {128, 512, 1024, 2048}) {
      // Rotate over `rot` copies of the batch's blocks (>= ~200 MB of K+V in all) so repeated
      // launches stream from HBM, not from L2.
      const double step_bytes = 2.0 * batch * ctx * H * D * sizeof(__half);
      const int rot = std::clamp(static_cast<int>(std::ceil(200e6 / step_bytes)), 1, 256);
      const int nb_seq = (ctx + BS - 1) / BS, num_blocks = rot * batch * nb_seq;
      const size_t pool_n = static_cast<size_t>(num_blocks) * H * BS * D;
      std::mt19937_64 rng(batch * 7919 + ctx);
      std::vector<float> f;
      std::vector<__half> qt, kt, chunk;
      random_rounded<__half>((1 << 20) + 7, 1.f, rng, f, chunk);  // tiled: random, never zeros
      kt.resize(pool_n);
      for (size_t i = 0; i < pool_n; ++i) kt[i] = chunk[i % chunk.size()];
      random_rounded<__half>(static_cast<size_t>(batch) * 3 * H * D, 1.f, rng, f, qt);
      std::vector<int32_t> ids(num_blocks), cu(batch + 1), kvl(batch, ctx);
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      for (int s = 0; s <= batch; ++s) cu[s] = s;
      DevBuf<__half> dq(qt.size()), dk(pool_n), dv(pool_n);
      DevBuf<__half> dout(static_cast<size_t>(batch) * H * D);
      DevBuf<int32_t> dtab(ids.size()), dcu(cu.size()), dkvl(kvl.size());
      ASSERT_TRUE(dq.p && dk.p && dv.p && dout.p);
      dq.upload(qt);
      dk.upload(kt);
      dv.upload(kt);
      dtab.upload(ids);
      dcu.upload(cu);
      dkvl.upload(kvl);
      cuda::PagedAttentionArgs a;
      a.num_seqs = batch;
      a.num_tokens = batch;
      a.max_q_len = 1;
      a.max_kv_len = ctx;
      a.heads = H;
      a.kv_heads = H;
      a.head_dim = D;
      a.block_size = BS;
      a.max_blocks = nb_seq;
      a.scale = 0.125f;
      const size_t ws_bytes = cuda::paged_attention_workspace_bytes(a);
      DevBuf<unsigned char> ws(ws_bytes);
      int it = 0;
      auto launch = [&] {
        cuda::paged_attention<__half>(dout.p, dq.p, 3 * H * D, dk.p, dv.p,
                                      dtab.p + static_cast<size_t>(it++ % rot) * batch * nb_seq,
                                      dcu.p, dkvl.p, a, ws_bytes ? ws.p : nullptr, nullptr);
      };
      for (int i = 0; i < 5; ++i) launch();
      CUDA_OK(cudaDeviceSynchronize());
      cudaEvent_t e0, e1;
      CUDA_OK(cudaEventCreate(&e0));
      CUDA_OK(cudaEventCreate(&e1));
      const int iters = 50;
      CUDA_OK(cudaEventRecord(e0));
      for (int i = 0; i < iters; ++i) launch();
      CUDA_OK(cudaEventRecord(e1));
      CUDA_OK(cudaEventSynchronize(e1));
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
      const double us = 1e3 * ms / iters;
      std::printf("  batch %3d ctx %5d: %8.2f us  %7.1f GB/s (K+V %.1f MB/step, workspace %zu B)\n",
                  batch, ctx, us, step_bytes / (us * 1e3), step_bytes / 1e6, ws_bytes);
    }
  }
}

}  // namespace
}  // namespace kiln
