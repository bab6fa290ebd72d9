// CUDA device plumbing: a budget allocator that takes ONE cudaMalloc of the configured cap at
// start-up and carves weights, workspace and KV blocks out of it (first fit, coalescing free
// list; nothing is allocated from the driver afterwards), and the per-device context (stream,
// cuBLASLt handle and workspace) that ExecContext points at.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/allocator.h"
#include "core/exec_context.h"

namespace kiln::ops::cuda {

class BudgetAllocator final : public Allocator {
 public:
  BudgetAllocator(int device, size_t budget_bytes);
  ~BudgetAllocator() override;
  void* allocate(size_t bytes) override;  // 256-byte aligned; throws when the budget is exhausted
  void deallocate(void* p, size_t bytes) override;
  Device device() const override { return Device::cuda(device_); }
  size_t budget() const { return budget_; }
  size_t used() const { return used_; }
  size_t peak() const { return peak_; }
  size_t largest_free() const;

 private:
  int device_;
  size_t budget_;
  char* base_ = nullptr;
  size_t used_ = 0, peak_ = 0;
  std::map<size_t, size_t> free_;    // offset -> size, coalesced
  std::map<size_t, size_t> blocks_;  // offset -> size of live allocations
  mutable std::mutex mu_;
};

struct CudaDeviceInfo {
  std::string name;
  size_t total_bytes = 0, free_bytes = 0;
  int sm_count = 0;
  int major = 0, minor = 0;
};
CudaDeviceInfo device_info(int device);
int device_count();  // 0 when there is no usable driver/device (never throws)

// Owns the stream, the cuBLASLt handle, the cuBLASLt workspace and the budget allocator of one
// device; exec() is the ExecContext ops receive.
class CudaContext {
 public:
  // budget: bytes for the allocator; if 0, memory_fraction of the device's free memory.
  CudaContext(int device, size_t budget_bytes, double memory_fraction = 0.9);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;
  ExecContext& exec() { return exec_; }
  BudgetAllocator& allocator() { return *alloc_; }
  void synchronize();

 private:
  int device_;
  std::unique_ptr<BudgetAllocator> alloc_;
  ExecContext exec_;
};

}  // namespace kiln::ops::cuda
