// Workspace: a bump arena sized once at start-up for the largest step (max_num_tokens), so that a
// forward pass allocates nothing. reset() at the start of each step; take() hands out tensors.
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace kiln {

class Workspace {
 public:
  Workspace() = default;
  Workspace(size_t bytes, Allocator* alloc = cpu_allocator());
  Tensor take(const Shape& shape, DType dtype);  // throws when the arena is exhausted
  void reset() { used_ = 0; }
  void rewind(size_t mark) { used_ = mark; }  // frees everything taken after used() == mark
  size_t capacity() const { return buffer_.defined() ? buffer_.nbytes() : 0; }
  size_t used() const { return used_; }

 private:
  Tensor buffer_;  // [bytes] uint8
  size_t used_ = 0;
};

}  // namespace kiln
