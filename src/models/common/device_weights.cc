#include "models/common/device_weights.h"

#include "core/check.h"
#include "ops/ops.h"

namespace kiln::models {

DType compute_dtype(const Device& device, DType requested, const std::string& model_type) {
  const DType dt = device.is_cpu() ? DType::kFloat32 : requested;
  KILN_CHECK(dt == DType::kFloat32 || dt == DType::kFloat16 || dt == DType::kBFloat16,
             "{}: unsupported compute dtype {}", model_type, dtype_name(dt));
  return dt;
}

int64_t move_weights(const std::vector<WeightEntry>& entries, DType dtype, Allocator* alloc) {
  ExecContext ctx;
  ctx.device = alloc->device();
  int64_t bytes = 0;
  for (const WeightEntry& e : entries) {
    *e.tensor = ops::to_device(*e.tensor, dtype, alloc, ctx);
    bytes += static_cast<int64_t>(e.tensor->nbytes());
  }
  return bytes;
}

}  // namespace kiln::models
