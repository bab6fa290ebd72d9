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

void synchronize(ExecContext& ctx) {
  if (!ctx.device.is_cuda()) return;
#ifdef KILN_WITH_CUDA
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)), "synchronize");
#endif
}

Tensor to_device(const Tensor& src, DType dtype, Allocator* alloc, ExecContext& ctx) {
  KILN_CHECK(src.device().is_cpu(), "to_device: the source must be a host tensor");
  Tensor host = src.dtype() == dtype ? src.contiguous() : src.to(dtype);
  if (alloc->device().is_cpu()) return host;
  Tensor dst = Tensor::empty(src.shape(), dtype, alloc);
  copy(host, dst, ctx);
  synchronize(ctx);  // `host` dies at return
  return dst;
}

}  // namespace kiln::ops
