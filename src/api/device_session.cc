#include "api/device_session.h"

#include <thread>

#include "core/check.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/device.h"
#endif

namespace kiln::api {

struct DeviceSession::Impl {
  ExecContext cpu;
  DType dtype = DType::kFloat32;
#ifdef KILN_WITH_CUDA
  std::unique_ptr<ops::cuda::CudaContext> cuda;
  std::string name;
#endif
};

DeviceSession::DeviceSession(const DeviceOptions& o) : impl_(std::make_unique<Impl>()) {
  impl_->dtype = dtype_from_name(o.dtype);
  KILN_CHECK(impl_->dtype == DType::kFloat32 || impl_->dtype == DType::kFloat16 ||
                 impl_->dtype == DType::kBFloat16,
             "--dtype must be float32, float16 or bfloat16, got {}", o.dtype);
  if (o.device == "cpu") return;
  KILN_CHECK(o.device.rfind("cuda", 0) == 0, "--device must be cpu, cuda or cuda:N, got '{}'",
             o.device);
  int index = 0;
  if (o.device.size() > 4) {
    KILN_CHECK(o.device[4] == ':' && o.device.size() > 5 &&
                   o.device.find_first_not_of("0123456789", 5) == std::string::npos,
               "--device must be cpu, cuda or cuda:N, got '{}'", o.device);
    index = std::stoi(o.device.substr(5));
  }
  KILN_CHECK(o.max_gpu_memory_gib >= 0, "--max_gpu_memory must be >= 0");
#ifdef KILN_WITH_CUDA
  const size_t budget = static_cast<size_t>(o.max_gpu_memory_gib * 1073741824.0);
  impl_->cuda = std::make_unique<ops::cuda::CudaContext>(index, budget, o.gpu_memory_fraction);
  impl_->name = ops::cuda::device_info(index).name;
#else
  (void)index;
  KILN_FAIL("--device {}: this kiln build has no CUDA backend (build with KILN_CUDA=ON)", o.device);
#endif
}

DeviceSession::~DeviceSession() = default;

ExecContext& DeviceSession::ctx() {
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->exec();
#endif
  return impl_->cpu;
}

models::LoadOptions DeviceSession::load_options() const {
  models::LoadOptions lo;
  lo.dtype = impl_->dtype;
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) {
    lo.device = impl_->cuda->exec().device;
    lo.allocator = &impl_->cuda->allocator();
  }
#endif
  return lo;
}

std::string DeviceSession::device_name() const {
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) return impl_->name;
#endif
  return "CPU (" + std::to_string(std::thread::hardware_concurrency()) + " cores)";
}

size_t DeviceSession::peak_bytes() const {
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->allocator().peak();
#endif
  return 0;
}

size_t DeviceSession::budget_bytes() const {
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->allocator().budget();
#endif
  return 0;
}

size_t DeviceSession::largest_free_bytes() const {
#ifdef KILN_WITH_CUDA
  if (impl_->cuda) return impl_->cuda->allocator().largest_free();
#endif
  return 0;
}

}  // namespace kiln::api
