// Helpers for GPU kernel tests: skip without a device, RAII device buffers, upload/download,
// seeded random fill, rounding through 16-bit types, NaN poisoning, relative error.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kiln::test {

inline bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define KILN_SKIP_WITHOUT_GPU()                                     \
  do {                                                              \
    if (!::kiln::test::has_gpu()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Mean device µs per call of fn(i) (i = 0, 1, ...) over `iters` calls enqueued on stream s, by
// events around them, after `warmup` untimed calls. For the printed timing tests.
template <class F>
double time_us(cudaStream_t s, int iters, F&& fn, int warmup = 1) {
  for (int i = 0; i < warmup; ++i) fn(i);
  cudaEvent_t e0, e1;
  cuda_ok(cudaEventCreate(&e0), "event");
  cuda_ok(cudaEventCreate(&e1), "event");
  cuda_ok(cudaEventRecord(e0, s), "event");
  for (int i = 0; i < iters; ++i) fn(i);
  cuda_ok(cudaEventRecord(e1, s), "event");
  cuda_ok(cudaEventSynchronize(e1), "timing");
  float ms = 0;
  cuda_ok(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  return ms * 1e3 / iters;
}

// A cuBLASLt handle (RAII).
class LtHandle {
 public:
  LtHandle() {
    if (cublasLtCreate(&h_) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasLtCreate");
  }
  ~LtHandle() { cublasLtDestroy(h_); }
  LtHandle(const LtHandle&) = delete;
  LtHandle& operator=(const LtHandle&) = delete;
  cublasLtHandle_t get() const { return h_; }

 private:
  cublasLtHandle_t h_ = nullptr;
};

// Device buffer of n elements of T (RAII).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n) cuda_ok(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)), "cudaMalloc");
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_), std::swap(n_, o.n_);
    return *this;
  }

  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    cuda_ok(
        cudaMemcpy(p_, host.data(), std::min(n_, host.size()) * sizeof(T), cudaMemcpyHostToDevice),
        "upload");
  }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    cuda_ok(cudaDeviceSynchronize(), "sync before download");
    if (n_) cuda_ok(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
    return h;
  }
  // Fill with NaN bytes (0xFF): every float/half/bf16 element reads as NaN.
  void poison() {
    if (n_) cuda_ok(cudaMemset(p_, 0xFF, n_ * sizeof(T)), "poison");
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// ---- host conversions -----------------------------------------------------------------------
template <class T>
inline float to_f(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else {
    return __bfloat162float(v);
  }
}
template <class T>
inline T from_f(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else {
    return __float2bfloat16_rn(v);
  }
}
template <class T>
std::vector<T> to_type(const std::vector<float>& v) {
  std::vector<T> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = from_f<T>(v[i]);
  return o;
}
template <class T>
std::vector<float> to_float(const std::vector<T>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = to_f(v[i]);
  return o;
}
// v rounded through T and back (the values a T-typed kernel actually sees).
template <class T>
std::vector<float> round_to(const std::vector<float>& v) {
  return to_float(to_type<T>(v));
}

// Seeded normal values, never exactly zero.
inline std::vector<float> random_vec(size_t n, uint64_t seed, float scale = 1.f, float mean = 0.f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(mean, scale);
  std::vector<float> v(n);
  for (auto& x : v) {
    do x = nd(rng);
    while (x == 0.f);
  }
  return v;
}

// ‖a − b‖ / ‖b‖ over all elements (NaN anywhere gives NaN, which fails any bound).
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - b[i];
    num += d * d;
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

inline size_t count_nan(const std::vector<float>& a) {
  size_t c = 0;
  for (float x : a) c += std::isnan(x) ? 1 : 0;
  return c;
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "f32";
  if constexpr (std::is_same_v<T, __half>) return "f16";
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return "bf16";
  return "?";
}

}  // namespace kiln::test
