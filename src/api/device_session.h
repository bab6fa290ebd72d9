// DeviceSession: the device a model runs on, chosen by --device/--dtype and the one GPU memory cap
// (--max_gpu_memory, else --gpu_memory_fraction of the free memory); owns the ExecContext (stream,
// cuBLASLt handle, budget allocator) that everything on that device uses.
#pragma once

#include <memory>
#include <string>

#include "core/exec_context.h"
#include "models/registry.h"

namespace kiln::api {

struct DeviceOptions {
  std::string device = "cpu";   // cpu | cuda | cuda:N
  std::string dtype = "float16";  // GPU compute dtype
  double gpu_memory_fraction = 0.9;  // of the free memory, when --max_gpu_memory is not given
  double max_gpu_memory_gib = 0;     // explicit cap in GiB (wins over the fraction)
};

class DeviceSession {
 public:
  explicit DeviceSession(const DeviceOptions& o);
  ~DeviceSession();
  ExecContext& ctx();
  models::LoadOptions load_options() const;
  std::string device_name() const;
  size_t peak_bytes() const;     // GPU budget high-water mark (0 on the CPU)
  size_t budget_bytes() const;   // GPU budget (0 on the CPU)
  size_t largest_free_bytes() const;  // largest block the GPU budget can still give (0 on the CPU)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::api
