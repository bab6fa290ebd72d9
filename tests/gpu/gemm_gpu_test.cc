// cuda::linear (cuBLASLt) vs an fp32 CPU GEMM on the same rounded inputs, every (T, OutT) pair and
// epilogue; the plan cache (same shape, new bias pointer), CUDA-graph capture, and a timing
// print at gpt2-xl decode shapes (weight-bytes GB/s beside the device-to-device copy bandwidth).
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "gpu_test_util.h"
#include "ops/cpu/kernels.h"
#include "ops/cuda/kernels.h"

namespace kiln::test {
namespace {

namespace cu = kiln::ops::cuda;
namespace cpu = kiln::ops::cpu;
using cu::Epilogue;

template <class T, class O>
double gemm_tol() {
  if constexpr (std::is_same_v<T, float>) return 1e-5;
  if constexpr (std::is_same_v<O, float>) return 1e-4;  // 16-bit inputs, fp32 accumulate/output
  if constexpr (std::is_same_v<O, __half>) return 2e-3;
  return 1e-2;
}

// out = x·wᵀ (+ b) (then gelu_tanh) in fp32 on the host.
std::vector<float> reference(const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>* b, int64_t n, int64_t m, int64_t k,
                             Epilogue epi) {
  std::vector<float> out(n * m);
  cpu::linear(out.data(), x.data(), w.data(), epi != Epilogue::kNone ? b->data() : nullptr, n, m,
              k);
  if (epi == Epilogue::kBiasGelu)
    cpu::activation(out.data(), n * m, ops::ActivationKind::kGeluTanh);
  return out;
}

template <class T, class O>
void check_linear(const LtHandle& lt, int64_t n, int64_t m, int64_t k, Epilogue epi,
                  size_t workspace_bytes, int64_t offset = 0) {
  const auto x = round_to<T>(random_vec(n * k + offset, 100 + n * 7 + k, 1.f));
  const auto w = round_to<T>(random_vec(m * k + offset, 200 + m + k, 1.f / std::sqrt(float(k))));
  const auto b = round_to<T>(random_vec(m + offset, 300 + m, 0.5f));
  const std::vector<float> xs(x.begin() + offset, x.end()), ws(w.begin() + offset, w.end()),
      bs(b.begin() + offset, b.end());
  const auto ref = reference(xs, ws, &bs, n, m, k, epi);

  DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b));
  DeviceBuffer<O> dout(n * m + offset);
  DeviceBuffer<char> dws(workspace_bytes);
  dout.poison();
  cu::linear<T, O>(dout.get() + offset, dx.get() + offset, dw.get() + offset, db.get() + offset, n,
                   m, k, epi, lt.get(), dws.get(), workspace_bytes, nullptr);
  cuda_ok(cudaDeviceSynchronize(), "linear");
  auto got = to_float(dout.download());
  got.erase(got.begin(), got.begin() + offset);
  EXPECT_EQ(count_nan(got), 0u);
  EXPECT_LE(rel_error(got, ref), (gemm_tol<T, O>()))
      << type_name<T>() << "->" << type_name<O>() << " n=" << n << " m=" << m << " k=" << k
      << " epi=" << static_cast<int>(epi) << " ws=" << workspace_bytes << " offset=" << offset;
}

struct Shape {
  int64_t n, m, k;
};
const Shape kShapes[] = {{1, 1, 1},        {1, 7, 64},     {3, 64, 7},      {37, 1600, 64},
                         {300, 129, 1600}, {64, 4097, 33}, {1, 4800, 1600}, {2, 1000, 4097}};

template <class T, class O>
void check_all(const LtHandle& lt) {
  for (const Shape& s : kShapes)
    for (Epilogue e : {Epilogue::kNone, Epilogue::kBias, Epilogue::kBiasGelu})
      for (size_t ws : {size_t{0}, size_t{32} << 20}) check_linear<T, O>(lt, s.n, s.m, s.k, e, ws);
}

class GemmGpu : public ::testing::Test {
 protected:
  void SetUp() override { KILN_SKIP_WITHOUT_GPU(); }
};

template <class T, class O>
void check_with_handle() {
  LtHandle lt;
  check_all<T, O>(lt);
}
TEST_F(GemmGpu, F32) { check_with_handle<float, float>(); }
TEST_F(GemmGpu, F16) { check_with_handle<__half, __half>(); }
TEST_F(GemmGpu, BF16) { check_with_handle<__nv_bfloat16, __nv_bfloat16>(); }
TEST_F(GemmGpu, F16ToF32) { check_with_handle<__half, float>(); }
TEST_F(GemmGpu, BF16ToF32) { check_with_handle<__nv_bfloat16, float>(); }

// Pointers only element-aligned (2 bytes for 16-bit types): the plan must not assume 256.
TEST_F(GemmGpu, MisalignedPointers) {
  LtHandle lt;
  check_linear<__half, __half>(lt, 5, 33, 17, Epilogue::kBias, 0, 1);
  check_linear<__nv_bfloat16, float>(lt, 5, 33, 17, Epilogue::kBiasGelu, 0, 1);
  check_linear<float, float>(lt, 5, 33, 17, Epilogue::kBiasGelu, 0, 1);
}

// The cached plan is reused with a different bias (and x/out) pointer of the same alignment.
TEST_F(GemmGpu, PlanCacheNewBias) {
  LtHandle lt;
  for (int rep = 0; rep < 3; ++rep) {
    check_linear<__half, __half>(lt, 4, 256, 128, Epilogue::kBiasGelu, 1 << 20);
    check_linear<float, float>(lt, 4, 256, 128, Epilogue::kBias, 1 << 20);
  }
}

// After a warm-up call, linear is capturable in a CUDA graph and replays correctly.
TEST_F(GemmGpu, GraphCapture) {
  LtHandle lt;
  const int64_t n = 8, m = 512, k = 256;
  using T = __half;
  const auto x = round_to<T>(random_vec(n * k, 1)), w = round_to<T>(random_vec(m * k, 2, 0.05f)),
             b = round_to<T>(random_vec(m, 3));
  const auto ref = reference(x, w, &b, n, m, k, Epilogue::kBiasGelu);
  DeviceBuffer<T> dx(to_type<T>(x)), dw(to_type<T>(w)), db(to_type<T>(b)), dout(n * m);
  const size_t wsb = 4 << 20;
  DeviceBuffer<char> dws(wsb);
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  auto call = [&] {
    cu::linear<T, T>(dout.get(), dx.get(), dw.get(), db.get(), n, m, k, Epilogue::kBiasGelu,
                     lt.get(), dws.get(), wsb, s);
  };
  call();
  cuda_ok(cudaStreamSynchronize(s), "warm-up");
  dout.poison();
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture");
  call();
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cuda_ok(cudaGraphLaunch(exec, s), "graph launch");
  cuda_ok(cudaStreamSynchronize(s), "graph sync");
  EXPECT_LE(rel_error(to_float(dout.download()), ref), 2e-3);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

// Prints only (never asserts time): linear at gpt2-xl decode shapes, weight bytes per second,
// and the device-to-device copy bandwidth measured in the same run as the roofline.
template <class T, class O>
void time_linear(const LtHandle& lt, int64_t n, int64_t m, int64_t k, cudaStream_t s) {
  const size_t wbytes = static_cast<size_t>(m) * k * sizeof(T);
  // Enough weight copies to exceed L2 (50 MB on H100), so every call streams from HBM.
  const int copies = static_cast<int>(std::max<size_t>(1, (256u << 20) / wbytes + 1));
  DeviceBuffer<T> dw(static_cast<size_t>(m) * k * copies), dx(n * k);
  DeviceBuffer<O> dout(n * m);
  cuda_ok(cudaMemset(dw.get(), 0x11, wbytes * copies), "fill w");
  cuda_ok(cudaMemset(dx.get(), 0x11, n * k * sizeof(T)), "fill x");
  const size_t wsb = 32 << 20;
  DeviceBuffer<char> dws(wsb);
  auto call = [&](int i) {
    cu::linear<T, O>(dout.get(), dx.get(), dw.get() + static_cast<size_t>(i % copies) * m * k,
                     nullptr, n, m, k, Epilogue::kNone, lt.get(), dws.get(), wsb, s);
  };
  const double us = time_us(s, 50, call, 5);
  std::printf("  linear %-4s->%-4s n=%-3lld m=%-6lld k=%-5lld %8.1f us  %7.1f GB/s (weights)\n",
              type_name<T>(), type_name<O>(), static_cast<long long>(n), static_cast<long long>(m),
              static_cast<long long>(k), us, wbytes / (us * 1e3));
}

TEST_F(GemmGpu, TimingGpt2XlDecode) {
  LtHandle lt;
  cudaStream_t s;
  cuda_ok(cudaStreamCreate(&s), "stream");
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  {
    const size_t bytes = size_t{1} << 30;
    DeviceBuffer<char> a(bytes), b(bytes);
    const double us = time_us(
        s, 5, [&](int) { cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s); });
    std::printf("%s: D2D copy %.1f GB/s (read + write bytes)\n", prop.name,
                2.0 * bytes / (us * 1e3));
  }
  const Shape layers[] = {{0, 4800, 1600}, {0, 1600, 1600}, {0, 6400, 1600}, {0, 1600, 6400}};
  for (int64_t n : {1, 64}) {
    for (const Shape& l : layers) {
      time_linear<__half, __half>(lt, n, l.m, l.k, s);
      time_linear<__nv_bfloat16, __nv_bfloat16>(lt, n, l.m, l.k, s);
    }
    time_linear<__half, float>(lt, n, 50257, 1600, s);  // lm_head, fp32 logits
    time_linear<__nv_bfloat16, float>(lt, n, 50257, 1600, s);
    time_linear<float, float>(lt, n, 1600, 6400, s);
  }
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace kiln::test
