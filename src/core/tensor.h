// Tensor: a typed, shaped view over shared storage. Storage is either owned (from an Allocator) or
// borrowed (e.g. an mmapped safetensors file kept alive by a shared owner). Row-major, with strides
// kept for views; kernels receive raw pointers, never Tensors (DESIGN §5).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/check.h"
#include "core/device.h"
#include "core/dtype.h"

namespace kiln {

using Shape = std::vector<int64_t>;

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  std::function<void(void*)> release;  // empty: not owned
  ~Storage() {
    if (release) release(data);
  }
};

class Tensor {
 public:
  Tensor() = default;

  // Allocates uninitialised storage.
  static Tensor empty(const Shape& shape, DType dtype, Allocator* alloc = cpu_allocator());
  static Tensor zeros(const Shape& shape, DType dtype, Allocator* alloc = cpu_allocator());
  // Wraps external memory; `owner` (may be null) keeps it alive.
  static Tensor borrow(void* data, const Shape& shape, DType dtype, Device device,
                       std::shared_ptr<void> owner = nullptr);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* raw() const { return static_cast<char*>(storage_->data) + offset_bytes_; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw());
  }

  // Views (share storage).
  Tensor view(const Shape& shape) const;          // contiguous only; one -1 allowed
  Tensor slice(int d, int64_t begin, int64_t end) const;  // along dim d
  Tensor select(int64_t i) const;                 // index dim 0, drops it
  // Copies into a fresh contiguous tensor of the given dtype (CPU only; floats widen/narrow).
  Tensor to(DType dtype) const;
  Tensor contiguous() const;

  std::string shape_str() const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  Shape strides_;  // in elements
  DType dtype_ = DType::kFloat32;
};

Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);

}  // namespace kiln
