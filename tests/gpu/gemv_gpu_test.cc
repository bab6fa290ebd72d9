// cuda::gemv (tensor-core GEMV for n <= 8) vs an fp32 CPU GEMM on the same rounded inputs: every
// (T, OutT) pair and epilogue over decode batch sizes and gpt2-xl shapes plus ragged small ones;
// the cases where it must decline (and launch nothing); linear() on both sides of the n = 8
// dispatch; CUDA-graph capture; and a timing print at gpt2-xl decode shapes (never asserted).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cpu/kernels.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
namespace cpu = kiln::ops::cpu;
using cu::Epilogue;

template <class O>
double gemv_tol() {
  if constexpr (std::is_same_v<O, float>) return 1e-4;  // fp32 accumulate and output
  if constexpr (std::is_same_v<O, __half>) return 2e-3;
  return 1e-2;
}

// Epilogue applied on the host to a raw product (fp32).
std::vector<float> apply_epilogue(std::vector<float> out, const std::vector<float>& b, int64_t n,
                                  int64_t m, Epilogue epi) {
  if (epi == Epilogue::kNone) return out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) out[i * m + j] += b[j];
  if (epi == Epilogue::kBiasGelu)
    cpu::activation(out.data(), n * m, ops::ActivationKind::kGeluTanh);
  return out;
}

struct MK {
  int64_t m, k;
};
const MK kShapes[] = {{4800, 1600}, {1600, 1600}, {6400, 1600}, {1600, 6400},
                      {50257, 1600}, {7, 64},     {33, 8}};
const int64_t kBatches[] = {1, 2, 3, 8};

class GemvGpu : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

// All batches, epilogues and both output types for one input type; inputs and the raw CPU
// product are made once per (shape, n) and shared by the output types and epilogues.
template <class T>
void check_all() {
  for (const MK& s : kShapes) {
    const auto w = round_to<T>(random_vec(s.m * s.k, 200 + s.m + s.k, 1.f / std::sqrt(float(s.k))));
    const auto b = round_to<T>(random_vec(s.m, 300 + s.m, 0.5f));
    DeviceBuffer<T> dw(to_type<T>(w)), db(to_type<T>(b));
    for (int64_t n : kBatches) {
      const auto x = round_to<T>(random_vec(n * s.k, 100 + n * 7 + s.k, 1.f));
      DeviceBuffer<T> dx(to_type<T>(x));
      std::vector<float> raw(n * s.m);
      cpu::linear(raw.data(), x.data(), w.data(), nullptr, n, s.m, s.k);
      for (Epilogue epi : {Epilogue::kNone, Epilogue::kBias, Epilogue::kBiasGelu}) {
        const auto ref = apply_epilogue(raw, b, n, s.m, epi);
        auto run = [&](auto tag) {
          using O = decltype(tag);
          DeviceBuffer<O> dout(n * s.m);
          dout.poison();
          const bool ran = cu::gemv<T, O>(dout.get(), dx.get(), dw.get(),
                                          epi == Epilogue::kNone ? nullptr : db.get(), n, s.m,
                                          s.k, epi, nullptr);
          ASSERT_TRUE(ran) << "n=" << n << " m=" << s.m << " k=" << s.k;
          cuda_ok(cudaDeviceSynchronize(), "gemv");
          const auto got = to_float(dout.download());
          EXPECT_EQ(count_nan(got), 0u);
          EXPECT_LE(rel_error(got, ref), gemv_tol<O>())
              << type_name<T>() << "->" << type_name<O>() << " n=" << n << " m=" << s.m
              << " k=" << s.k << " epi=" << static_cast<int>(epi);
        };
        run(T{});
        run(float{});
      }
    }
  }
}

TEST_F(GemvGpu, F16) { check_all<__half>(); }
TEST_F(GemvGpu, BF16) { check_all<__nv_bfloat16>(); }

// A bias with Epilogue::kNone is ignored; kBias with a null bias is a plain product.
TEST_F(GemvGpu, BiasPointerVsEpilogue) {
  using T = __half;
  const int64_t n = 3, m = 40, k = 96;
  const auto x = round_to<T>(random_vec(n * k, 1)), w = round_to<T>(random_vec(m * k, 2, 0.1f)),
             b = round_to<T>(random_vec(m, 3));
  std::vector<float> raw(n * m);
  cpu::linear(raw.data(), x.data(), w.data(), nullptr, n, m, k);
  DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b));
  DeviceBuffer<float> dout(n * m);
  dout.poison();
  ASSERT_TRUE((cu::gemv<T, float>(dout.get(), dx.get(), dw.get(), db.get(), n, m, k,
                                  Epilogue::kNone, nullptr)));
  EXPECT_LE(rel_error(dout.download(), raw), 1e-4);
  dout.poison();
  ASSERT_TRUE((cu::gemv<T, float>(dout.get(), dx.get(), dw.get(), nullptr, n, m, k,
                                  Epilogue::kBiasGelu, nullptr)));
  EXPECT_LE(rel_error(dout.download(), raw), 1e-4);
}

// Cases gemv must decline: it returns false and writes nothing (the output stays poisoned).
TEST_F(GemvGpu, DeclinesWithoutLaunching) {
  const int64_t m = 64, k = 128;
  DeviceBuffer<__half> dx(16 * k + 8), dw(m * k + 8);
  DeviceBuffer<float> xf(16 * k), wf(m * k);
  DeviceBuffer<__half> dout(16 * m);
  DeviceBuffer<float> fout(16 * m);
  cuda_ok(cudaMemset(dx.get(), 0, dx.size() * 2), "x");
  cuda_ok(cudaMemset(dw.get(), 0, dw.size() * 2), "w");
  dout.poison(), fout.poison();
  auto h = [&](int64_t n, int64_t kk, const __half* x, const __half* w) {
    return cu::gemv<__half, __half>(dout.get(), x, w, nullptr, n, m, kk, Epilogue::kNone, nullptr);
  };
  EXPECT_FALSE(h(9, k, dx.get(), dw.get()));            // n > 8
  EXPECT_FALSE(h(0, k, dx.get(), dw.get()));            // empty
  EXPECT_FALSE(h(2, 12, dx.get(), dw.get()));           // k % 8 != 0
  EXPECT_FALSE(h(2, 0, dx.get(), dw.get()));            // k == 0 (linear memsets)
  EXPECT_FALSE(h(2, k, dx.get() + 1, dw.get()));        // x not 16-byte aligned
  EXPECT_FALSE(h(2, k, dx.get(), dw.get() + 4));        // w only 8-byte aligned
  EXPECT_FALSE((cu::gemv<float, float>(fout.get(), xf.get(), wf.get(), nullptr, 2, m, k,
                                       Epilogue::kNone, nullptr)));  // fp32
  EXPECT_EQ(count_nan(to_float(dout.download())), dout.size());
  EXPECT_EQ(count_nan(fout.download()), fout.size());
}

// linear() (the public launcher) on both sides of the dispatch: n = 8 runs gemv, n = 9 and a
// misaligned x run cuBLASLt; all agree with the CPU.
TEST_F(GemvGpu, LinearDispatch) {
  LtHandle lt;
  const size_t wsb = 8 << 20;
  DeviceBuffer<char> dws(wsb);
  auto check = [&](auto tag, int64_t n, int64_t m, int64_t k, Epilogue epi, int64_t xoff) {
    using T = decltype(tag);
    const auto x = round_to<T>(random_vec(n * k + xoff, 11 + n, 1.f));
    const auto w = round_to<T>(random_vec(m * k, 12 + m, 1.f / std::sqrt(float(k))));
    const auto b = round_to<T>(random_vec(m, 13, 0.5f));
    const std::vector<float> xs(x.begin() + xoff, x.end());
    std::vector<float> raw(n * m);
    cpu::linear(raw.data(), xs.data(), w.data(), nullptr, n, m, k);
    const auto ref = apply_epilogue(raw, b, n, m, epi);
    DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b)), dout(n * m);
    dout.poison();
    cu::linear<T, T>(dout.get(), dx.get() + xoff, dw.get(), db.get(), n, m, k, epi, lt.get(),
                     dws.get(), wsb, nullptr);
    const auto got = to_float(dout.download());
    EXPECT_EQ(count_nan(got), 0u);
    EXPECT_LE(rel_error(got, ref), gemv_tol<T>())
        << type_name<T>() << " n=" << n << " m=" << m << " k=" << k << " xoff=" << xoff;
  };
  for (Epilogue epi : {Epilogue::kNone, Epilogue::kBias, Epilogue::kBiasGelu}) {
    for (int64_t n : {8, 9}) {
      check(__half{}, n, 4800, 1600, epi, 0);
      check(__nv_bfloat16{}, n, 1600, 6400, epi, 0);
    }
    check(__half{}, 4, 1600, 1600, epi, 1);  // x misaligned: gemv declines
  }
}

// gemv is capturable in a CUDA graph (no allocation, no synchronisation) and replays correctly.
TEST_F(GemvGpu, GraphCapture) {
  using T = __nv_bfloat16;
  const int64_t n = 5, m = 1000, k = 1600;
  const auto x = round_to<T>(random_vec(n * k, 1)), w = round_to<T>(random_vec(m * k, 2, 0.03f)),
             b = round_to<T>(random_vec(m, 3));
  std::vector<float> raw(n * m);
  cpu::linear(raw.data(), x.data(), w.data(), nullptr, n, m, k);
  const auto ref = apply_epilogue(raw, b, n, m, Epilogue::kBiasGelu);
  DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b));
  DeviceBuffer<float> dout(n * m);
  dout.poison();
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture");
  const bool ran = cu::gemv<T, float>(dout.get(), dx.get(), dw.get(), db.get(), n, m, k,
                                      Epilogue::kBiasGelu, s);
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  EXPECT_TRUE(ran);
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cuda_ok(cudaGraphLaunch(exec, s), "graph launch");
  cuda_ok(cudaStreamSynchronize(s), "graph sync");
  EXPECT_LE(rel_error(dout.download(), ref), 1e-4);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

// Prints only (never asserts time): gemv at gpt2-xl decode shapes, rotating over enough weight
// copies (>= 256 MB in all, past the 50-60 MB L2) that every call streams W from HBM.
template <class T, class O>
void time_gemv(int64_t n, int64_t m, int64_t k, cudaStream_t s) {
  const size_t wbytes = static_cast<size_t>(m) * k * sizeof(T);
  const int copies = static_cast<int>(std::max<size_t>(2, (256u << 20) / wbytes + 1));
  DeviceBuffer<T> dw(static_cast<size_t>(m) * k * copies), dx(n * k), db(m);
  DeviceBuffer<O> dout(n * m);
  cuda_ok(cudaMemset(dw.get(), 0x11, wbytes * copies), "fill w");
  cuda_ok(cudaMemset(dx.get(), 0x11, n * k * sizeof(T)), "fill x");
  cuda_ok(cudaMemset(db.get(), 0x11, m * sizeof(T)), "fill b");
  auto call = [&](int i) {
    const bool ran = cu::gemv<T, O>(dout.get(), dx.get(),
                                    dw.get() + static_cast<size_t>(i % copies) * m * k, db.get(),
                                    n, m, k, Epilogue::kBias, s);
    if (!ran) throw std::runtime_error("gemv declined");
  };
  for (int i = 0; i < 5; ++i) call(i);
  const int iters = 100;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0), cudaEventCreate(&e1);
  cudaEventRecord(e0, s);
  for (int i = 0; i < iters; ++i) call(i);
  cudaEventRecord(e1, s);
  cuda_ok(cudaEventSynchronize(e1), "timing");
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  const double us = ms * 1e3 / iters;
  std::printf("  gemv %-4s->%-4s n=%-2lld m=%-6lld k=%-5lld %8.2f us  %7.1f GB/s (weights)\n",
              type_name<T>(), type_name<O>(), static_cast<long long>(n),
              static_cast<long long>(m), static_cast<long long>(k), us, wbytes / (us * 1e3));
  cudaEventDestroy(e0), cudaEventDestroy(e1);
}

TEST_F(GemvGpu, TimingGpt2XlDecode) {
  cudaStream_t s;
  cuda_ok(cudaStreamCreate(&s), "stream");
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s (%d SMs, L2 %d MB); launches back to back on one stream (includes the gap)\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  const MK layers[] = {{4800, 1600}, {1600, 1600}, {6400, 1600}, {1600, 6400}};
  for (int64_t n : {1, 8}) {
    for (const MK& l : layers) {
      time_gemv<__half, __half>(n, l.m, l.k, s);
      time_gemv<__nv_bfloat16, __nv_bfloat16>(n, l.m, l.k, s);
    }
    time_gemv<__half, float>(n, 50257, 1600, s);  // lm_head, fp32 logits
    time_gemv<__nv_bfloat16, float>(n, 50257, 1600, s);
  }
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace kiln::test
