// The one (device, dtype) switch shared by every op: an op names itself, and an unsupported
// combination throws an error naming the op, the device and the dtype.
#pragma once

#include "core/check.h"
#include "core/tensor.h"

namespace kiln::ops {

inline void require_cpu_f32(const char* op, const Tensor& t) {
  KILN_CHECK(t.device().is_cpu() && t.dtype() == DType::kFloat32,
             "{}: unsupported device/dtype {}/{} (this build supports cpu/float32)", op,
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

}  // namespace kiln::ops
