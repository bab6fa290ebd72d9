// Allocators hand out raw bytes for tensor storage. The CPU allocator aligns to 64 bytes (one cache
// line, one AVX-512 vector). The CUDA allocator (ops/cuda) carves from one budget fixed at start-up.
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace kiln {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  virtual Device device() const = 0;
};

// Process-wide aligned host allocator.
Allocator* cpu_allocator();

}  // namespace kiln
