// The start every decoder forward shares: the batch and KV cache checked against the model, the
// step workspace reset, and the three [tokens, hidden] buffers of a residual stream taken from it.
#pragma once

#include <cstddef>

#include "core/check.h"
#include "core/workspace.h"
#include "layers/forward_batch.h"

namespace kiln::models {

struct ResidualBuffers {
  Tensor h;       // [n, d] residual stream
  Tensor normed;  // [n, d] the next sublayer's normalized input
  Tensor tmp;     // [n, d] a sublayer's output
};

inline ResidualBuffers begin_forward(const char* family, const layers::ForwardBatch& batch,
                                     const layers::KvCacheView& kv, size_t layers, int64_t d,
                                     DType dt, Workspace& ws) {
  const int64_t n = batch.num_tokens();
  KILN_CHECK(n > 0, "{}: empty batch", family);
  KILN_CHECK(kv.k.size() == layers, "{}: KV cache has {} layers, model {}", family, kv.k.size(),
             layers);
  ws.reset();
  ResidualBuffers r;
  r.h = ws.take({n, d}, dt);
  r.normed = ws.take({n, d}, dt);
  r.tmp = ws.take({n, d}, dt);
  return r;
}

}  // namespace kiln::models
