#include "ops/cuda/launch.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace kiln::ops::cuda {

bool switched_off(const char* name) {
  const char* e = std::getenv(name);
  return e && std::strcmp(e, "0") == 0;
}

int sm_count() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 132;
  return sms;
}

bool pdl_enabled() {
  // Per device: 0 unknown, 1 off, 2 on. Read once per device (a device attribute query).
  constexpr int kMaxDevices = 64;
  static std::array<std::atomic<int>, kMaxDevices> state{};
  static const bool env_off = switched_off("KILN_PDL");
  if (env_off) return false;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) return false;
  int s = state[dev].load(std::memory_order_relaxed);
  if (s == 0) {
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      major = 0;
    s = major >= 9 ? 2 : 1;
    state[dev].store(s, std::memory_order_relaxed);
  }
  return s == 2;
}

}  // namespace kiln::ops::cuda
