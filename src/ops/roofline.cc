#include "ops/roofline.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "ops/ops.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/cuda_check.h"
#endif

namespace kiln::ops {

double time_seconds(ExecContext& ctx, const std::function<void()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
#ifdef KILN_WITH_CUDA
  if (ctx.device.is_cuda()) {
    const auto s = static_cast<cudaStream_t>(ctx.stream);
    cudaEvent_t a, b;
    KILN_CUDA_CHECK(cudaEventCreate(&a), "timer");
    KILN_CUDA_CHECK(cudaEventCreate(&b), "timer");
    for (int i = 0; i < iters; ++i) {
      KILN_CUDA_CHECK(cudaEventRecord(a, s), "timer");
      fn();
      KILN_CUDA_CHECK(cudaEventRecord(b, s), "timer");
      KILN_CUDA_CHECK(cudaEventSynchronize(b), "timer");
      float ms = 0;
      KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b), "timer");
      t.push_back(ms / 1e3);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
#endif
  if (t.empty()) {
    for (int i = 0; i < iters; ++i) {
      const auto a = std::chrono::steady_clock::now();
      fn();
      synchronize(ctx);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double measure_copy_bandwidth(ExecContext& ctx, size_t bytes) {
  const int64_t n = static_cast<int64_t>(bytes / 4);
  Tensor a = Tensor::empty({n}, DType::kFloat32, ctx.allocator);
  Tensor b = Tensor::empty({n}, DType::kFloat32, ctx.allocator);
  const double s = time_seconds(ctx, [&] { copy(a, b, ctx); }, 3, 10);
  return 2.0 * static_cast<double>(n) * 4 / s;
}

double measure_gemm_rate(ExecContext& ctx, DType dtype, int64_t n) {
  // Random (never zero) operands: zeros run faster than real data on some GPUs.
  Tensor host = Tensor::empty({n, n}, DType::kFloat32);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < n * n; ++i) host.data<float>()[i] = u(rng);
  Tensor x = to_device(host, dtype, ctx.allocator, ctx);
  Tensor w = to_device(host, dtype, ctx.allocator, ctx);
  Tensor out = Tensor::empty({n, n}, dtype, ctx.allocator);
  const double s = time_seconds(ctx, [&] { linear(x, w, Tensor(), out, ctx); }, 2, 5);
  return 2.0 * static_cast<double>(n) * n * n / s;
}

}  // namespace kiln::ops
