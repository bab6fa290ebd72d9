// linear() through cuBLASLt. Row-major y [n, m] = x [n, k] · W [m, k]ᵀ is the column-major product
// yᵀ [m, n] = op(A) · B with A = W viewed as column-major [k, m] (ld k, TRANSA = T) and B = xᵀ
// viewed as column-major [k, n] (ld k); the bias runs along D's rows (= output features).
// Compute CUBLAS_COMPUTE_32F (no TF32: fp32 inputs keep fp32 parity), fp32 scale type.
//
// Plans (matmul descriptor, layouts, and the heuristic's algorithm) are cached per
// (handle, n, m, k, types, epilogue, pointer alignments, workspace size): after the first call
// of a shape the launch path only looks the plan up, sets the bias pointer and enqueues — no
// heuristic query, no allocation, no synchronisation, so decode steps can be graph-captured.
//
// Bias epilogues: cuBLASLt takes the bias in D's type (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE
// defaults to Dtype; other bias types exist only for IMMA and fp8 kernels, see cublasLt.h). Our
// bias is always T, so (T, OutT) = (half|bf16, float) with a bias runs the GEMM without epilogue
// and adds bias (+GELU) in a small kernel after it; so does any case the heuristic has no
// algorithm for with the fused epilogue. cuBLASLt's GELU is the tanh approximation (gelu_new),
// and so is the fallback kernel; fp32 fuses only the bias and applies GELU in that kernel.
#include "ops/cuda/kernels/nvcc_fmt.cuh"  // first: before fmt

#include <algorithm>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv.h"
#include "ops/cuda/kernels.h"
#include "ops/cuda/kernels/common.cuh"
#include "ops/cuda/kernels/pdl.cuh"
#include "ops/cuda/launch.h"

namespace kiln::ops::cuda {
namespace {

template <class T>
constexpr cudaDataType_t cuda_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  if constexpr (std::is_same_v<T, __half>) return CUDA_R_16F;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return CUDA_R_16BF;
}

// Largest power of two (<= 256) dividing the address: what the heuristic may assume.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  uint32_t al = 1;
  while (al < 256 && a % (al * 2) == 0) al *= 2;
  return al;
}

struct PlanKey {
  cublasLtHandle_t handle;
  int64_t n, m, k;
  int in_type, out_type;
  int epilogue;
  uint32_t align_x, align_w, align_out, align_bias;
  size_t workspace_bytes;
  bool operator==(const PlanKey& o) const { return std::memcmp(this, &o, sizeof(PlanKey)) == 0; }
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    // FNV-1a over the bytes (the key is zero-initialised, so padding is deterministic).
    const auto* p = reinterpret_cast<const unsigned char*>(&key);
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof(PlanKey); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
  }
};

constexpr int kTuneAlgos = 8;  // heuristic candidates timed per shape under KILN_GEMM_TUNE=1

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  cublasLtMatmulAlgo_t candidates[kTuneAlgos]{};  // the heuristic's top ones (tuning), best first
  int num_candidates = 0;
  bool tuned = false;
  bool fused_bias = false;  // bias (+gelu for 16-bit types) in the cuBLASLt epilogue
  bool post_bias = false;   // bias added by bias_act_kernel after the GEMM
  bool post_gelu = false;   // GELU applied by bias_act_kernel after the GEMM
};

// Plans live for the process (a few hundred bytes each, one per distinct linear shape); the
// mutex also serialises setting the bias pointer on a shared descriptor and the enqueue.
std::mutex g_mutex;
std::unordered_map<PlanKey, Plan, PlanKeyHash>& plans() {
  static auto* m = new std::unordered_map<PlanKey, Plan, PlanKeyHash>();
  return *m;
}

void destroy(Plan& p) {
  if (p.desc) cublasLtMatmulDescDestroy(p.desc);
  if (p.a) cublasLtMatrixLayoutDestroy(p.a);
  if (p.b) cublasLtMatrixLayoutDestroy(p.b);
  if (p.d) cublasLtMatrixLayoutDestroy(p.d);
  p = Plan{};
}

// KILN_GEMM_TUNE=1: each shape's first call outside graph capture times the heuristic's top
// kTuneAlgos algorithms on the call's own operands and keeps the fastest (as TensorRT-LLM's
// build-time tactic selection); off by default (the choice may differ run to run).
bool gemm_tuning() {
  static const bool on = switched_on("KILN_GEMM_TUNE");
  return on;
}

// Times p's candidate algorithms on the call's operands (2 runs each after one warm-up, events
// on the stream) and keeps the fastest in p.algo. Skipped while the stream is being captured.
void tune(Plan& p, cublasLtHandle_t handle, const void* w, const void* x, void* out,
          void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  p.tuned = true;
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  if (p.num_candidates < 2 || cudaStreamIsCapturing(stream, &cs) != cudaSuccess ||
      cs != cudaStreamCaptureStatusNone)
    return;
  cudaEvent_t e0, e1;
  KILN_CUDA_CHECK(cudaEventCreate(&e0), "linear tuning");
  KILN_CUDA_CHECK(cudaEventCreate(&e1), "linear tuning");
  const float alpha = 1.f, beta = 0.f;
  float best = 0.f;
  for (int c = 0; c < p.num_candidates; ++c) {
    const cublasLtMatmulAlgo_t& algo = p.candidates[c];
    auto run = [&] {
      return cublasLtMatmul(handle, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.d, out, p.d,
                            &algo, workspace, workspace_bytes, stream);
    };
    if (run() != CUBLAS_STATUS_SUCCESS) continue;  // a candidate that does not run is skipped
    KILN_CUDA_CHECK(cudaEventRecord(e0, stream), "linear tuning");
    bool ok = run() == CUBLAS_STATUS_SUCCESS && run() == CUBLAS_STATUS_SUCCESS;
    KILN_CUDA_CHECK(cudaEventRecord(e1, stream), "linear tuning");
    KILN_CUDA_CHECK(cudaEventSynchronize(e1), "linear tuning");
    float ms = 0.f;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1), "linear tuning");
    if (ok && (best == 0.f || ms < best)) best = ms, p.algo = algo;
  }
  cudaEventDestroy(e0), cudaEventDestroy(e1);
}

// Builds descriptors for one epilogue choice and asks the heuristic; false if it has no algorithm.
bool try_plan(const PlanKey& key, cudaDataType_t in_t, cudaDataType_t out_t, cublasLtEpilogue_t epi,
              const void* bias_probe, Plan& p) {
  KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "linear");
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
      "linear");
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
      "linear");
  KILN_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
      "linear");
  if (epi != CUBLASLT_EPILOGUE_DEFAULT) {
    // The heuristic reads the pointer's alignment; the real pointer is set per call.
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                     &bias_probe, sizeof(bias_probe)),
                      "linear");
  }
  const uint64_t n = key.n, m = key.m, k = key.k;
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, in_t, k, m, k), "linear");   // W
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, in_t, k, n, k), "linear");   // xᵀ
  KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, out_t, m, n, m), "linear");  // yᵀ (C = D)

  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref), "linear");
  const uint64_t ws = key.workspace_bytes;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                    "linear");
  const uint32_t al_a = key.align_w, al_b = key.align_x, al_d = key.align_out;
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)),
                    "linear");
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)),
                    "linear");
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof(al_d)),
                    "linear");
  KILN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
                        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)),
                    "linear");
  cublasLtMatmulHeuristicResult_t results[kTuneAlgos]{};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(key.handle, p.desc, p.a, p.b, p.d, p.d, pref,
                                     gemm_tuning() ? kTuneAlgos : 1, results, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  const cublasLtMatmulHeuristicResult_t& result = results[0];
  if (st != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS) {
    // NOT_SUPPORTED means "no algorithm for this configuration"; anything else is a real error.
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED)
      KILN_CUBLAS_CHECK(st, "linear");
    destroy(p);
    return false;
  }
  p.algo = result.algo;
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS)
      p.candidates[p.num_candidates++] = results[i].algo;
  return true;
}

template <class T, class OutT>
Plan make_plan(const PlanKey& key, Epilogue epilogue, const T* bias) {
  constexpr cudaDataType_t in_t = cuda_type<T>(), out_t = cuda_type<OutT>();
  Plan p;
  if (epilogue != Epilogue::kNone && std::is_same_v<T, OutT>) {
    // fp32 keeps the GELU in our kernel (precise tanhf): cuBLASLt's GELU need not be
    // fp32-exact, which only 16-bit outputs can absorb.
    const bool fuse_gelu = epilogue == Epilogue::kBiasGelu && !std::is_same_v<T, float>;
    const cublasLtEpilogue_t epi = fuse_gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    if (try_plan(key, in_t, out_t, epi, bias, p)) {
      p.fused_bias = true;
      p.post_gelu = epilogue == Epilogue::kBiasGelu && !fuse_gelu;
      return p;
    }
  }
  if (!try_plan(key, in_t, out_t, CUBLASLT_EPILOGUE_DEFAULT, nullptr, p))
    KILN_FAIL("linear: cuBLASLt has no algorithm for n={} m={} k={} (types {} -> {})", key.n, key.m,
              key.k, static_cast<int>(in_t), static_cast<int>(out_t));
  p.post_bias = epilogue != Epilogue::kNone;
  p.post_gelu = epilogue == Epilogue::kBiasGelu;
  return p;
}

__device__ __forceinline__ float gelu_tanh(float v) {
  return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

// out [n, m] = (gelu)(out + bias [m]).
template <class T, class OutT>
__global__ void bias_act_kernel(OutT* __restrict__ out, const T* __restrict__ bias, int64_t n,
                                int64_t m, bool gelu) {
  detail::pdl_enter();
  const int64_t total = n * m;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride) {
    float v = detail::to_float(out[i]);
    if (bias) v += detail::to_float(bias[i % m]);
    if (gelu) v = gelu_tanh(v);
    out[i] = detail::from_float<OutT>(v);
  }
}

}  // namespace

template <class T, class OutT>
void linear(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
            Epilogue epilogue, cublasLtHandle_t handle, void* workspace, size_t workspace_bytes,
            cudaStream_t stream) {
  if (n <= 0 || m <= 0) return;
  // Decode-sized batches (n <= 8, 16-bit inputs): the tensor-core GEMV streams W near HBM
  // bandwidth where cuBLASLt does not; it declines (false, nothing launched) otherwise.
  if constexpr (!std::is_same_v<T, float>) {
    if (gemv<T, OutT>(out, x, w, bias, n, m, k, epilogue, stream)) return;
  }
  if (!bias) epilogue = Epilogue::kNone;
  if (!workspace) workspace_bytes = 0;
  bool post_bias = epilogue != Epilogue::kNone, post_gelu = epilogue == Epilogue::kBiasGelu;
  if (k <= 0) {  // empty sum: out = epilogue(0)
    KILN_CUDA_CHECK(cudaMemsetAsync(out, 0, n * m * sizeof(OutT), stream), "linear");
  } else {
    PlanKey key;
    std::memset(&key, 0, sizeof(key));
    key.handle = handle;
    key.n = n, key.m = m, key.k = k;
    key.in_type = cuda_type<T>(), key.out_type = cuda_type<OutT>();
    key.epilogue = static_cast<int>(epilogue);
    key.align_x = alignment_of(x), key.align_w = alignment_of(w), key.align_out = alignment_of(out);
    key.align_bias = bias ? alignment_of(bias) : 0;
    key.workspace_bytes = workspace_bytes;

    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = plans().find(key);
    if (it == plans().end())
      it = plans().emplace(key, make_plan<T, OutT>(key, epilogue, bias)).first;
    Plan& p = it->second;
    if (p.fused_bias) {
      KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &bias, sizeof(bias)),
                        "linear");
    }
    if (gemm_tuning() && !p.tuned) tune(p, handle, w, x, out, workspace, workspace_bytes, stream);
    const float alpha = 1.f, beta = 0.f;
    KILN_CUBLAS_CHECK(cublasLtMatmul(handle, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.d, out,
                                     p.d, &p.algo, workspace, workspace_bytes, stream),
                      "linear");
    post_bias = p.post_bias, post_gelu = p.post_gelu;
  }
  if (post_bias || post_gelu) {
    const int threads = 256;
    const int grid =
        static_cast<int>(std::clamp<int64_t>(detail::ceil_div(n * m, threads), 1, 8192));
    cuda::launch(bias_act_kernel<T, OutT>, dim3(grid), dim3(threads), 0, stream, out,
                 post_bias ? bias : nullptr, n, m, post_gelu);
    KILN_CUDA_LAUNCH_CHECK("linear");
  }
}

#define KILN_INSTANTIATE(T, O)                                                            \
  template void linear<T, O>(O*, const T*, const T*, const T*, int64_t, int64_t, int64_t, \
                             Epilogue, cublasLtHandle_t, void*, size_t, cudaStream_t);
KILN_INSTANTIATE(float, float)
KILN_INSTANTIATE(__half, __half)
KILN_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
KILN_INSTANTIATE(__half, float)
KILN_INSTANTIATE(__nv_bfloat16, float)
#undef KILN_INSTANTIATE

}  // namespace kiln::ops::cuda
