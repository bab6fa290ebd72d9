#include "core/workspace.h"

namespace kiln {

Workspace::Workspace(size_t bytes, Allocator* alloc)
    : buffer_(Tensor::empty({static_cast<int64_t>(bytes)}, DType::kUInt8, alloc)) {}

Tensor Workspace::take(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  const size_t aligned = (bytes + 255) / 256 * 256;
  KILN_CHECK(used_ + aligned <= capacity(),
             "workspace exhausted: need {} more bytes, {} of {} used (raise max_num_tokens?)",
             aligned, used_, capacity());
  Tensor t = buffer_.slice(0, static_cast<int64_t>(used_), static_cast<int64_t>(used_ + bytes));
  used_ += aligned;
  return Tensor::borrow(t.raw(), shape, dtype, t.device(),
                        std::shared_ptr<void>(nullptr));
}

}  // namespace kiln
