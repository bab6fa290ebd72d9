// The one (device, dtype) switch shared by every op: an op names itself, and an unsupported
// combination throws an error naming the op, the device and the dtype. CPU kernels are fp32;
// CUDA kernels are instantiated for float, __half and __nv_bfloat16.
#pragma once

#include <type_traits>

#include "core/check.h"
#include "core/exec_context.h"
#include "core/tensor.h"

#ifdef KILN_WITH_CUDA
#include "ops/cuda/kernels.h"
#endif

namespace kiln::ops {

inline void require_cpu_f32(const char* op, const Tensor& t) {
  KILN_CHECK(t.device().is_cpu() && t.dtype() == DType::kFloat32,
             "{}: unsupported device/dtype {}/{} (the CPU backend computes in float32)", op,
             t.device().str(), dtype_name(t.dtype()));
}

inline void require_contiguous(const char* op, const Tensor& t, const char* name) {
  KILN_CHECK(t.defined() && t.is_contiguous(), "{}: '{}' must be a defined contiguous tensor", op,
             name);
}

inline void require_shape(const char* op, const Tensor& t, const Shape& s, const char* name) {
  KILN_CHECK(t.shape() == s, "{}: '{}' has shape {}, expected {}", op, name, t.shape_str(),
             shape_to_string(s));
}

// x [n, in] and a weight [out, in] (HF layout) of a linear.
inline void require_chain(const char* op, const Tensor& x, const Tensor& w) {
  KILN_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
             "{}: x {} and weight {} do not chain (weight is [out, in])", op, x.shape_str(),
             w.shape_str());
}

inline void require_same(const char* op, const Tensor& ref, const Tensor& t, const char* name) {
  KILN_CHECK(t.device() == ref.device() && t.dtype() == ref.dtype(),
             "{}: '{}' is {}/{}, expected {}/{}", op, name, t.device().str(),
             dtype_name(t.dtype()), ref.device().str(), dtype_name(ref.dtype()));
}

#ifdef KILN_WITH_CUDA
inline cudaStream_t stream_of(const ExecContext& ctx) {
  return static_cast<cudaStream_t>(ctx.stream);
}

// Calls f(std::type_identity<T>{}) with T the CUDA element type of dt.
template <class F>
void dispatch_cuda_float(const char* op, DType dt, F&& f) {
  switch (dt) {
    case DType::kFloat32:
      return f(std::type_identity<float>{});
    case DType::kFloat16:
      return f(std::type_identity<__half>{});
    case DType::kBFloat16:
      return f(std::type_identity<__nv_bfloat16>{});
    default:
      KILN_FAIL("{}: unsupported dtype {} on CUDA (float32, float16, bfloat16)", op,
                dtype_name(dt));
  }
}
#endif

// Without the CUDA backend a CUDA tensor is a clear error rather than a crash.
inline void require_cuda_built(const char* op, const Tensor& t) {
#ifndef KILN_WITH_CUDA
  KILN_CHECK(!t.device().is_cuda(), "{}: this kiln build has no CUDA backend (-DKILN_CUDA=ON)", op);
#endif
}

}  // namespace kiln::ops
