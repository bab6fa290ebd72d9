#include <cstring>

#include "ops/dispatch.h"
#include "ops/ops.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/cuda_check.h"
#endif

namespace kiln::ops {

void copy(const Tensor& src, Tensor& dst, ExecContext& ctx) {
  constexpr const char* op = "copy";
  require_shape(op, dst, src.shape(), "dst");
  KILN_CHECK(src.dtype() == dst.dtype(), "{}: dtype {} -> {} (convert first)", op,
             dtype_name(src.dtype()), dtype_name(dst.dtype()));
  require_contiguous(op, src, "src");
  require_contiguous(op, dst, "dst");
  if (src.nbytes() == 0) return;
  if (src.device().is_cpu() && dst.device().is_cpu()) {
    std::memcpy(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  require_cuda_built(op, src.device().is_cuda() ? src : dst);
#ifdef KILN_WITH_CUDA
  KILN_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDefault,
                                  stream_of(ctx)),
                  op);
#endif
}

}  // namespace kiln::ops
