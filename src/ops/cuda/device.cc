#include "ops/cuda/device.h"

#include <algorithm>

#include "ops/cuda/cuda_check.h"

namespace kiln::ops::cuda {
namespace {
constexpr size_t kAlign = 256;
constexpr size_t kBlasWorkspace = 128ull << 20;  // cuBLASLt, split-K attention, sampling
constexpr size_t kCounters = 1 << 16;            // ExecContext::counters
}  // namespace

BudgetAllocator::BudgetAllocator(int device, size_t budget_bytes)
    : device_(device), budget_(budget_bytes / kAlign * kAlign) {
  KILN_CHECK(budget_ > 0, "GPU memory budget is zero");
  KILN_CUDA_CHECK(cudaSetDevice(device_), "gpu memory");
  size_t free_b = 0, total_b = 0;
  KILN_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b), "gpu memory");
  KILN_CHECK(budget_ <= free_b,
             "GPU memory budget of {:.2f} GiB exceeds the {:.2f} GiB free on device {} "
             "(lower --max_gpu_memory or --gpu_memory_fraction)",
             budget_ / 1073741824.0, free_b / 1073741824.0, device_);
  KILN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&base_), budget_), "gpu memory");
  free_[0] = budget_;
}

BudgetAllocator::~BudgetAllocator() {
  if (base_) cudaFree(base_);
}

void* BudgetAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t need = (bytes + kAlign - 1) / kAlign * kAlign;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < need) continue;
    const size_t off = it->first, size = it->second;
    free_.erase(it);
    if (size > need) free_[off + need] = size - need;
    blocks_[off] = need;
    used_ += need;
    peak_ = std::max(peak_, used_);
    return base_ + off;
  }
  size_t largest = 0;
  for (const auto& [o, s] : free_) largest = std::max(largest, s);
  KILN_FAIL(
      "GPU memory budget exhausted: need {:.1f} MiB, {:.1f} of {:.1f} MiB used, largest free "
      "piece {:.1f} MiB (raise --max_gpu_memory / --gpu_memory_fraction or lower the batch)",
      need / 1048576.0, used_ / 1048576.0, budget_ / 1048576.0, largest / 1048576.0);
}

void BudgetAllocator::deallocate(void* p, size_t) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  const size_t off = static_cast<size_t>(static_cast<char*>(p) - base_);
  auto it = blocks_.find(off);
  KILN_CHECK(it != blocks_.end(), "gpu memory: freeing a pointer this allocator does not own");
  size_t size = it->second;
  blocks_.erase(it);
  used_ -= size;
  size_t start = off;
  auto next = free_.lower_bound(off);
  if (next != free_.end() && next->first == off + size) {
    size += next->second;
    free_.erase(next);
  }
  auto prev = free_.lower_bound(off);
  if (prev != free_.begin()) {
    --prev;
    if (prev->first + prev->second == off) {
      start = prev->first;
      size += prev->second;
      free_.erase(prev);
    }
  }
  free_[start] = size;
}

size_t BudgetAllocator::largest_free() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t largest = 0;
  for (const auto& [o, s] : free_) largest = std::max(largest, s);
  return largest;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

CudaDeviceInfo device_info(int device) {
  cudaDeviceProp p{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&p, device), "device_info");
  CudaDeviceInfo info;
  info.name = p.name;
  info.sm_count = p.multiProcessorCount;
  info.major = p.major;
  info.minor = p.minor;
  KILN_CUDA_CHECK(cudaSetDevice(device), "device_info");
  KILN_CUDA_CHECK(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "device_info");
  return info;
}

CudaContext::CudaContext(int device, size_t budget_bytes, double memory_fraction)
    : device_(device) {
  const int n = device_count();
  KILN_CHECK(n > 0, "--device cuda: no CUDA device is available");
  KILN_CHECK(device >= 0 && device < n, "--device cuda:{}: only {} CUDA device(s)", device, n);
  KILN_CHECK(memory_fraction > 0 && memory_fraction <= 1,
             "--gpu_memory_fraction must be in (0, 1], got {}", memory_fraction);
  const CudaDeviceInfo info = device_info(device);
  const size_t budget =
      budget_bytes ? budget_bytes : static_cast<size_t>(info.free_bytes * memory_fraction);
  alloc_ = std::make_unique<BudgetAllocator>(device, budget);
  exec_.device = Device::cuda(device);
  exec_.allocator = alloc_.get();
  cudaStream_t stream = nullptr;
  KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cuda context");
  exec_.stream = stream;
  cublasLtHandle_t handle = nullptr;
  KILN_CUBLAS_CHECK(cublasLtCreate(&handle), "cuda context");
  exec_.blas_handle = handle;
  exec_.workspace = alloc_->allocate(kBlasWorkspace);
  exec_.workspace_bytes = kBlasWorkspace;
  exec_.counters = static_cast<unsigned*>(alloc_->allocate(kCounters * sizeof(unsigned)));
  exec_.num_counters = kCounters;
  KILN_CUDA_CHECK(cudaMemset(exec_.counters, 0, kCounters * sizeof(unsigned)), "cuda context");
}

CudaContext::~CudaContext() {
  if (exec_.stream) cudaStreamSynchronize(static_cast<cudaStream_t>(exec_.stream));
  if (exec_.workspace) alloc_->deallocate(exec_.workspace, kBlasWorkspace);
  if (exec_.counters) alloc_->deallocate(exec_.counters, kCounters * sizeof(unsigned));
  if (exec_.blas_handle) cublasLtDestroy(static_cast<cublasLtHandle_t>(exec_.blas_handle));
  if (exec_.stream) cudaStreamDestroy(static_cast<cudaStream_t>(exec_.stream));
}

void CudaContext::synchronize() {
  KILN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(exec_.stream)), "synchronize");
}

}  // namespace kiln::ops::cuda
