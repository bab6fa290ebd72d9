#include "core/tensor.h"

#include <cstring>

namespace kiln {

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Allocator* alloc) {
  for (int64_t d : shape) KILN_CHECK(d >= 0, "negative dimension in shape {}", shape_to_string(shape));
  Tensor t;
  auto st = std::make_shared<Storage>();
  st->bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  st->data = alloc->allocate(st->bytes);
  st->device = alloc->device();
  st->release = [alloc, bytes = st->bytes](void* p) { alloc->deallocate(p, bytes); };
  t.storage_ = std::move(st);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Allocator* alloc) {
  KILN_CHECK(alloc->device().is_cpu(), "Tensor::zeros on {} needs a device fill op",
             alloc->device().str());
  Tensor t = empty(shape, dtype, alloc);
  if (t.nbytes()) std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype, Device device,
                      std::shared_ptr<void> owner) {
  Tensor t;
  auto st = std::make_shared<Storage>();
  st->data = data;
  st->bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  st->device = device;
  if (owner) st->release = [owner](void*) mutable { owner.reset(); };
  t.storage_ = std::move(st);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

int64_t Tensor::size(int d) const {
  if (d < 0) d += dim();
  KILN_CHECK(d >= 0 && d < dim(), "dim {} out of range for shape {}", d, shape_str());
  return shape_[d];
}

int64_t Tensor::numel() const { return shape_numel(shape_); }

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::view(const Shape& shape) const {
  KILN_CHECK(is_contiguous(), "view of a non-contiguous tensor {}", shape_str());
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      KILN_CHECK(infer < 0, "view: more than one -1 in {}", shape_to_string(shape));
      infer = static_cast<int>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    KILN_CHECK(known > 0 && numel() % known == 0, "view: cannot infer {} from {}",
               shape_to_string(shape), shape_str());
    s[infer] = numel() / known;
  }
  KILN_CHECK(shape_numel(s) == numel(), "view: {} does not match {}", shape_to_string(s), shape_str());
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::slice(int d, int64_t begin, int64_t end) const {
  if (d < 0) d += dim();
  KILN_CHECK(d >= 0 && d < dim(), "slice: dim {} out of range for {}", d, shape_str());
  KILN_CHECK(0 <= begin && begin <= end && end <= shape_[d], "slice [{}, {}) out of range for dim {} of {}",
             begin, end, d, shape_str());
  Tensor t = *this;
  t.offset_bytes_ += static_cast<size_t>(begin * strides_[d]) * dtype_size(dtype_);
  t.shape_[d] = end - begin;
  return t;
}

Tensor Tensor::select(int64_t i) const {
  KILN_CHECK(dim() >= 1 && i >= 0 && i < shape_[0], "select {} out of range for {}", i, shape_str());
  Tensor t = *this;
  t.offset_bytes_ += static_cast<size_t>(i * strides_[0]) * dtype_size(dtype_);
  t.shape_.erase(t.shape_.begin());
  t.strides_.erase(t.strides_.begin());
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return to(dtype_);
}

Tensor Tensor::to(DType dtype) const {
  KILN_CHECK(device().is_cpu(), "Tensor::to on {} is not a host conversion", device().str());
  Tensor src = *this;
  Tensor out = empty(shape_, dtype);
  if (!is_contiguous()) {
    // Gather rows of the last dimension into a contiguous copy of the same dtype first.
    Tensor c = empty(shape_, dtype_);
    const size_t es = dtype_size(dtype_);
    const int64_t inner = dim() ? shape_.back() : 1;
    const int64_t rows = inner ? numel() / inner : 0;
    KILN_CHECK(dim() == 0 || strides_.back() == 1, "to(): innermost dim must be dense");
    for (int64_t r = 0; r < rows; ++r) {
      int64_t rem = r, off = 0;
      for (int d = dim() - 2; d >= 0; --d) {
        off += (rem % shape_[d]) * strides_[d];
        rem /= shape_[d];
      }
      std::memcpy(static_cast<char*>(c.raw()) + r * inner * es,
                  static_cast<const char*>(raw()) + off * es, inner * es);
    }
    src = c;
  }
  if (dtype == dtype_) {
    std::memcpy(out.raw(), src.raw(), nbytes());
  } else if (dtype == DType::kFloat32) {
    convert_to_float(src.raw(), dtype_, out.data<float>(), numel());
  } else if (dtype_ == DType::kFloat32) {
    convert_from_float(src.data<float>(), out.raw(), dtype, numel());
  } else {
    Tensor f = src.to(DType::kFloat32);
    convert_from_float(f.data<float>(), out.raw(), dtype, numel());
  }
  return out;
}

std::string Tensor::shape_str() const { return shape_to_string(shape_); }

}  // namespace kiln
