// The fused decode GEMVs behind ops::layer_norm_linear and ops::linear_add (cuda::gemv_layer_norm,
// cuda::gemv_add through cuda::layer_norm_linear / cuda::linear_add) vs the CPU on the same rounded
// inputs, and vs the unfused GPU kernels they replace (layer_norm + linear, linear + add): every
// n <= 8, gpt2-xl and ragged shapes (m not a multiple of 16, k a multiple of 8 only), biases on and
// off, GELU; the scratch buffers stay unwritten on the fused path and are used past n = 8; and a
// timing print of fused vs unfused at gpt2-xl decode shapes (never asserted).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
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

class LtHandle {
 public:
  LtHandle() {
    if (cublasLtCreate(&h_) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasLtCreate");
  }
  ~LtHandle() { cublasLtDestroy(h_); }
  cublasLtHandle_t get() const { return h_; }

 private:
  cublasLtHandle_t h_ = nullptr;
};

constexpr size_t kWsBytes = 8 << 20;  // cuBLASLt workspace
constexpr float kEps = 1e-5f;

template <class T>
double tol() {
  return std::is_same_v<T, __half> ? 2e-3 : 1e-2;  // as the gemv tests
}

struct MK {
  int64_t m, k;
};
const MK kShapes[] = {{4800, 1600}, {6400, 1600}, {1600, 6400}, {1600, 4800}, {1024, 1024},
                      {200, 72},    {72, 200},    {33, 1600},   {1000, 1024}};

// out [n, m] += bias (+GELU) on the host.
void host_epilogue(std::vector<float>& out, const std::vector<float>& b, int64_t n, int64_t m,
                   Epilogue epi) {
  if (epi == Epilogue::kNone) return;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) out[i * m + j] += b[j];
  if (epi == Epilogue::kBiasGelu)
    cpu::activation(out.data(), n * m, ops::ActivationKind::kGeluTanh);
}

class GemvFusedGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    KILN_SKIP_WITHOUT_GPU();
    lt_ = std::make_unique<LtHandle>();
    ws_ = DeviceBuffer<char>(kWsBytes);
  }
  cublasLtHandle_t lt() const { return lt_->get(); }
  char* ws() const { return ws_.get(); }

 private:
  std::unique_ptr<LtHandle> lt_;  // created after the GPU check
  DeviceBuffer<char> ws_;         // [kWsBytes]
};

// layer_norm_linear: fused (n <= 8) vs the CPU (LayerNorm in fp32 of the rounded x, rounded to T
// as the LayerNorm kernel stores it, then the product) and vs the unfused GPU kernels.
template <class T>
void check_layer_norm_linear(cublasLtHandle_t lt, char* ws) {
  for (const MK& s : kShapes) {
    const auto w = round_to<T>(random_vec(s.m * s.k, 10 + s.m + s.k, 1.f / std::sqrt(float(s.k))));
    const auto b = round_to<T>(random_vec(s.m, 20 + s.m, 0.5f));
    const auto lw = round_to<T>(random_vec(s.k, 30 + s.k, 0.5f, 1.f));
    const auto lb = round_to<T>(random_vec(s.k, 40 + s.k, 0.2f));
    DeviceBuffer<T> dw(to_type<T>(w)), db(to_type<T>(b)), dlw(to_type<T>(lw)), dlb(to_type<T>(lb));
    for (int64_t n = 1; n <= 9; ++n) {
      // Rows with a mean far from 0 and varied scales: the statistics matter.
      auto x = random_vec(n * s.k, 50 + n * 7 + s.k, 2.f, 3.f);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < s.k; ++j) x[i * s.k + j] *= 1.f + 0.5f * float(i);
      x = round_to<T>(x);
      DeviceBuffer<T> dx(to_type<T>(x));
      for (Epilogue epi : {Epilogue::kNone, Epilogue::kBias, Epilogue::kBiasGelu}) {
        const bool ln_bias = epi != Epilogue::kNone;  // one case without the LayerNorm bias
        std::vector<float> normed(n * s.k), ref(n * s.m);
        cpu::layer_norm(normed.data(), x.data(), lw.data(), ln_bias ? lb.data() : nullptr, n, s.k,
                        kEps);
        normed = round_to<T>(normed);
        cpu::linear(ref.data(), normed.data(), w.data(), nullptr, n, s.m, s.k);
        host_epilogue(ref, b, n, s.m, epi);

        const T* bias = epi == Epilogue::kNone ? nullptr : db.get();
        const T* lbias = ln_bias ? dlb.get() : nullptr;
        DeviceBuffer<T> dout(n * s.m), dnormed(n * s.k);
        dout.poison(), dnormed.poison();
        cu::layer_norm_linear<T>(dout.get(), dnormed.get(), dx.get(), dlw.get(), lbias, kEps,
                                 dw.get(), bias, n, s.m, s.k, epi, lt, ws, kWsBytes, nullptr);
        const auto got = to_float(dout.download());
        const std::string where = std::string(type_name<T>()) + " n=" + std::to_string(n) +
                                  " m=" + std::to_string(s.m) + " k=" + std::to_string(s.k) +
                                  " epi=" + std::to_string(static_cast<int>(epi));
        EXPECT_EQ(count_nan(got), 0u) << where;
        EXPECT_LE(rel_error(got, ref), tol<T>()) << where;
        const auto scratch = to_float(dnormed.download());
        if (n <= 8) {  // fused: the scratch stays poisoned
          EXPECT_EQ(count_nan(scratch), scratch.size()) << where;
        } else {  // unfused: the scratch holds the LayerNorm
          EXPECT_LE(rel_error(scratch, normed), tol<T>()) << where;
          continue;
        }
        // The unfused kernels on the same inputs: same roundings, so only the statistics'
        // summation order differs (a normalised value may land one ulp apart).
        DeviceBuffer<T> dref(n * s.m);
        cu::layer_norm<T>(dnormed.get(), dx.get(), dlw.get(), lbias, n, s.k, kEps, nullptr);
        cu::linear<T, T>(dref.get(), dnormed.get(), dw.get(), bias, n, s.m, s.k, epi, lt, ws,
                         kWsBytes, nullptr);
        EXPECT_LE(rel_error(got, to_float(dref.download())), 0.1 * tol<T>()) << where;
      }
    }
  }
}

TEST_F(GemvFusedGpu, LayerNormLinearF16) { check_layer_norm_linear<__half>(lt(), ws()); }
TEST_F(GemvFusedGpu, LayerNormLinearBF16) { check_layer_norm_linear<__nv_bfloat16>(lt(), ws()); }

// linear_add: fused (n <= 8) vs the CPU (product + bias rounded to T, then the sum rounded) and
// bit-for-bit vs the unfused GPU kernels (the same GEMV arithmetic, then add()).
template <class T>
void check_linear_add(cublasLtHandle_t lt, char* ws) {
  for (const MK& s : kShapes) {
    const auto w = round_to<T>(random_vec(s.m * s.k, 60 + s.m + s.k, 1.f / std::sqrt(float(s.k))));
    const auto b = round_to<T>(random_vec(s.m, 70 + s.m, 0.5f));
    DeviceBuffer<T> dw(to_type<T>(w)), db(to_type<T>(b));
    for (int64_t n = 1; n <= 9; ++n) {
      const auto x = round_to<T>(random_vec(n * s.k, 80 + n + s.k));
      const auto h = round_to<T>(random_vec(n * s.m, 90 + n + s.m, 2.f));
      DeviceBuffer<T> dx(to_type<T>(x));
      for (bool has_bias : {false, true}) {
        std::vector<float> ref(n * s.m);
        cpu::linear(ref.data(), x.data(), w.data(), has_bias ? b.data() : nullptr, n, s.m, s.k);
        ref = round_to<T>(ref);
        for (int64_t i = 0; i < n * s.m; ++i) ref[i] += h[i];
        ref = round_to<T>(ref);

        const T* bias = has_bias ? db.get() : nullptr;
        DeviceBuffer<T> dh(to_type<T>(h)), dtmp(n * s.m);
        dtmp.poison();
        cu::linear_add<T>(dh.get(), dtmp.get(), dx.get(), dw.get(), bias, n, s.m, s.k, lt, ws,
                          kWsBytes, nullptr);
        const auto got_t = dh.download();
        const auto got = to_float(got_t);
        const std::string where = std::string(type_name<T>()) + " n=" + std::to_string(n) +
                                  " m=" + std::to_string(s.m) + " k=" + std::to_string(s.k) +
                                  " bias=" + std::to_string(has_bias);
        EXPECT_EQ(count_nan(got), 0u) << where;
        EXPECT_LE(rel_error(got, ref), tol<T>()) << where;
        if (n > 8) continue;
        EXPECT_EQ(count_nan(to_float(dtmp.download())), dtmp.size()) << where;  // unwritten

        DeviceBuffer<T> dref(to_type<T>(h));
        cu::linear<T, T>(dtmp.get(), dx.get(), dw.get(), bias, n, s.m, s.k,
                         has_bias ? Epilogue::kBias : Epilogue::kNone, lt, ws, kWsBytes, nullptr);
        cu::add<T>(dref.get(), dref.get(), dtmp.get(), n * s.m, nullptr);
        const auto want = dref.download();
        size_t differ = 0;
        for (size_t i = 0; i < want.size(); ++i)
          differ += std::memcmp(&want[i], &got_t[i], sizeof(T)) != 0 ? 1 : 0;
        EXPECT_EQ(differ, 0u) << where;
      }
    }
  }
}

TEST_F(GemvFusedGpu, LinearAddF16) { check_linear_add<__half>(lt(), ws()); }
TEST_F(GemvFusedGpu, LinearAddBF16) { check_linear_add<__nv_bfloat16>(lt(), ws()); }

// Mean µs per call of call(i) over 100 back-to-back launches (after 5 warm-up calls).
double time_us(const std::function<void(int)>& call, cudaStream_t s) {
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
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  return ms * 1e3 / iters;
}

// Fused vs unfused at one shape, rotating over enough weight copies (>= 256 MB in all, past the
// L2) that every call streams W from HBM, as GemvGpu.TimingGpt2XlDecode.
template <class T>
void time_shape(int64_t n, int64_t m, int64_t k, cublasLtHandle_t lt, char* ws, cudaStream_t s) {
  const size_t wbytes = static_cast<size_t>(m) * k * sizeof(T);
  const int copies = static_cast<int>(std::max<size_t>(2, (256u << 20) / wbytes + 1));
  DeviceBuffer<T> dw(static_cast<size_t>(m) * k * copies), dx(n * k), db(m), dlw(k), dlb(k);
  DeviceBuffer<T> dout(n * m), dnormed(n * k), dres(n * m), dtmp(n * m);
  cuda_ok(cudaMemset(dw.get(), 0x11, wbytes * copies), "fill w");
  for (auto* d : {&dx, &db, &dlw, &dlb, &dout, &dres})
    cuda_ok(cudaMemset(d->get(), 0x11, d->size() * sizeof(T)), "fill");
  auto wi = [&](int i) { return dw.get() + static_cast<size_t>(i % copies) * m * k; };
  const double ln_fused = time_us(
      [&](int i) {
        cu::layer_norm_linear<T>(dout.get(), dnormed.get(), dx.get(), dlw.get(), dlb.get(), kEps,
                                 wi(i), db.get(), n, m, k, Epilogue::kBias, lt, ws, kWsBytes, s);
      },
      s);
  const double ln_unfused = time_us(
      [&](int i) {
        cu::layer_norm<T>(dnormed.get(), dx.get(), dlw.get(), dlb.get(), n, k, kEps, s);
        cu::linear<T, T>(dout.get(), dnormed.get(), wi(i), db.get(), n, m, k, Epilogue::kBias, lt,
                         ws, kWsBytes, s);
      },
      s);
  const double add_fused = time_us(
      [&](int i) {
        cu::linear_add<T>(dres.get(), dtmp.get(), dx.get(), wi(i), db.get(), n, m, k, lt, ws,
                          kWsBytes, s);
      },
      s);
  const double add_unfused = time_us(
      [&](int i) {
        cu::linear<T, T>(dtmp.get(), dx.get(), wi(i), db.get(), n, m, k, Epilogue::kBias, lt, ws,
                         kWsBytes, s);
        cu::add<T>(dres.get(), dres.get(), dtmp.get(), n * m, s);
      },
      s);
  std::printf(
      "  %-4s n=%-2lld m=%-5lld k=%-5lld  layer_norm+linear %7.2f us fused %7.2f us  "
      "linear+add %7.2f us fused %7.2f us\n",
      type_name<T>(), static_cast<long long>(n), static_cast<long long>(m),
      static_cast<long long>(k), ln_unfused, ln_fused, add_unfused, add_fused);
}

TEST_F(GemvFusedGpu, TimingGpt2XlDecode) {
  cudaStream_t s;
  cuda_ok(cudaStreamCreate(&s), "stream");
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s; unfused = the kernels the fused GEMV replaces, back to back on one stream\n",
              prop.name);
  const MK layers[] = {{4800, 1600}, {1600, 1600}, {6400, 1600}, {1600, 6400}};
  for (int64_t n : {1, 8}) {
    for (const MK& l : layers) {
      time_shape<__half>(n, l.m, l.k, lt(), ws(), s);
      time_shape<__nv_bfloat16>(n, l.m, l.k, lt(), ws(), s);
    }
  }
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace kiln::test
