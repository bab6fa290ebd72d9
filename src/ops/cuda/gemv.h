// Tensor-core GEMV for decode-sized batches (see kernels/gemv.cuh for the design):
// out [n, m] (OutT) = x [n, k] · w [m, k]ᵀ (+ bias [m]) (then GELU tanh), fp32 accumulation.
// Applies to T in {__half, __nv_bfloat16}, OutT in {T, float}, 1 <= n <= 8, m >= 1, k >= 8 with
// k % 8 == 0, x and w 16-byte aligned (out and bias need only element alignment). Returns false
// without launching anything when it does not apply (fp32, n > 8, empty shapes, misalignment), so
// a caller can fall back to a GEMM. No allocation, no synchronisation: graph-capturable.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "ops/cuda/kernels.h"  // Epilogue

namespace kiln::ops::cuda {

constexpr int64_t kGemvMaxRows = 8;  // n cap of every GEMV here (kernels/gemv.cuh's kGemvMaxN)

template <class T, class OutT>
bool gemv(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
          Epilogue epilogue, cudaStream_t stream);

// Diagnostics: gemv (fp16) with each CTA's entry, SM, PDL-wait-return and exit times written to
// trace [4 · ceil(m / 16)] (kernels/gemv.cuh); for timeline tests, not the model path.
template <class T, class OutT>
bool gemv_traced(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
                 Epilogue epilogue, cudaStream_t stream, unsigned long long* trace);

// residual [n, m] += round(x · wᵀ + bias) in one GEMV launch (bias may be null): the
// residual-add epilogue of gemv_add_layer_norm without its LayerNorm, for a next GEMV that folds
// the LayerNorm (gemv_layer_norm_folded). Same applicability as gemv.
template <class T>
bool gemv_add(T* residual, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
              cudaStream_t stream);

// out [n, m] = LayerNorm(x; γ, β) · Wᵀ + b (then GELU tanh) in one GEMV with no LayerNorm pass:
// the affine is folded into the weights beforehand (w_folded = W·diag(γ) rounded to T,
// c = W·β + b, rowsum [m] = Σ_k w_folded in fp32) and each CTA takes the row statistics of x
// from the values it streams (kernels/gemv.cuh, kGemvLnFold). Same applicability as gemv
// (c may be null when there is no bias); false without launching otherwise.
template <class T>
bool gemv_layer_norm_folded(T* out, const T* x, const T* w_folded, const T* c, const float* rowsum,
                            float eps, int64_t n, int64_t m, int64_t k, bool gelu,
                            cudaStream_t stream);

// residual [n, m] += round(x · wᵀ + bias) (bias may be null), then normed [n, m] =
// LayerNorm(residual) · ln_w + ln_b (ln_b may be null), in one GEMV launch: the grid's last CTA
// normalises (counter: a zeroed arrival counter, ExecContext::counters, left zero). Same
// applicability as gemv, T 16-bit, a counter, m % 8 == 0, m <= 32 per CTA thread, 16-byte aligned
// residual, normed, ln_w, ln_b; false without launching otherwise.
template <class T>
bool gemv_add_layer_norm(T* residual, T* normed, const T* x, const T* w, const T* bias,
                         const T* ln_w, const T* ln_b, float eps, int64_t n, int64_t m, int64_t k,
                         unsigned* counter, cudaStream_t stream);

}  // namespace kiln::ops::cuda
