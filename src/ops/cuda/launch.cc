#include "ops/cuda/launch.h"

#include <array>
#include <atomic>

namespace kiln::ops::cuda {

namespace {

constexpr int kMaxDevices = 64;
using AttributeCache =
    std::array<std::atomic<int>, kMaxDevices>;  // value + 1 per device; 0 unknown

// `attr` of the current device, queried once per device (launchers call this on every launch);
// `fallback` when there is no current device or the query fails.
int cached_attribute(AttributeCache& cache, cudaDeviceAttr attr, int fallback) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return fallback;
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v == 0) {
    int a = 0;
    if (cudaDeviceGetAttribute(&a, attr, dev) != cudaSuccess) a = fallback;
    v = a + 1;
    cache[dev].store(v, std::memory_order_relaxed);
  }
  return v - 1;
}

}  // namespace

int sm_count() {
  static AttributeCache cache{};
  return cached_attribute(cache, cudaDevAttrMultiProcessorCount, 132);
}

int max_smem_optin() {
  static AttributeCache cache{};
  return cached_attribute(cache, cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024);
}

int compute_major() {
  static AttributeCache cache{};
  return cached_attribute(cache, cudaDevAttrComputeCapabilityMajor, 0);
}

bool pdl_enabled() {
  static const bool env_off = switched_off("KILN_PDL");
  return !env_off && compute_major() >= 9;
}

}  // namespace kiln::ops::cuda
