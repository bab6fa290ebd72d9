#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate,
               ExecContext& ctx) {
  constexpr const char* op = "embedding";
  KILN_CHECK(ids.dtype() == DType::kInt32 && ids.dim() == 1, "{}: ids must be int32 [n]", op);
  KILN_CHECK(table.dim() == 2, "{}: table must be [vocab, hidden], got {}", op, table.shape_str());
  require_shape(op, out, {ids.size(0), table.size(1)}, "out");
  require_contiguous(op, table, "table");
  require_contiguous(op, out, "out");
  require_same(op, out, table, "table");
  KILN_CHECK(ids.device() == out.device(), "{}: ids on {}, out on {}", op, ids.device().str(),
             out.device().str());
  require_cuda_built(op, out);
#ifdef KILN_WITH_CUDA
  if (out.device().is_cuda()) {
    dispatch_cuda_float(op, out.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::embedding<T>(out.data<T>(), ids.data<int32_t>(), table.data<T>(), ids.size(0),
                         table.size(0), table.size(1), accumulate, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, out);
  const int64_t bad = cpu::embedding(out.data<float>(), ids.data<int32_t>(), table.data<float>(),
                                     ids.size(0), table.size(0), table.size(1), accumulate);
  KILN_CHECK(bad < 0, "{}: id {} at index {} is outside [0, {})", op,
             bad < 0 ? 0 : ids.data<int32_t>()[bad], bad, table.size(0));
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out, ExecContext& ctx) {
  constexpr const char* op = "gather_rows";
  KILN_CHECK(rows.dtype() == DType::kInt32 && rows.dim() == 1, "{}: rows must be int32 [m]", op);
  KILN_CHECK(x.dim() == 2, "{}: x must be 2-D, got {}", op, x.shape_str());
  require_shape(op, out, {rows.size(0), x.size(1)}, "out");
  require_contiguous(op, x, "x");
  require_same(op, x, out, "out");
  require_cuda_built(op, out);
#ifdef KILN_WITH_CUDA
  if (out.device().is_cuda()) {
    dispatch_cuda_float(op, out.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::gather_rows<T>(out.data<T>(), x.data<T>(), rows.data<int32_t>(), rows.size(0),
                           x.size(1), stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, x);
  const int32_t* r = rows.data<int32_t>();
  for (int64_t i = 0; i < rows.size(0); ++i)
    KILN_CHECK(r[i] >= 0 && r[i] < x.size(0), "{}: row {} out of range [0, {})", op, r[i], x.size(0));
  cpu::gather_rows(out.data<float>(), x.data<float>(), r, rows.size(0), x.size(1));
}

}  // namespace kiln::ops
