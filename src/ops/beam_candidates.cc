#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {

void beam_candidates(const Tensor& logits, const Tensor& row_ids, const Tensor& mask_ids, int64_t k,
                     Tensor& out_logprobs, Tensor& out_tokens, ExecContext& ctx) {
  constexpr const char* op = "beam_candidates";
  KILN_CHECK(logits.dim() == 2 && logits.dtype() == DType::kFloat32,
             "{}: logits must be fp32 [n, vocab]", op);
  require_contiguous(op, logits, "logits");
  const int64_t vocab = logits.size(1);
  require_contiguous(op, row_ids, "row_ids");
  KILN_CHECK(row_ids.dim() == 1 && row_ids.dtype() == DType::kInt32, "{}: row_ids must be int32 [rows]",
             op);
  const int64_t rows = row_ids.size(0);
  require_contiguous(op, mask_ids, "mask_ids");
  KILN_CHECK(mask_ids.dim() == 2 && mask_ids.size(0) == rows && mask_ids.dtype() == DType::kInt32,
             "{}: mask_ids must be int32 [{}, m]", op, rows);
  const int64_t max_mask = mask_ids.size(1);
  KILN_CHECK(max_mask <= kMaxBeamMaskIds, "{}: at most {} mask ids per row, got {}", op,
             kMaxBeamMaskIds, max_mask);
  KILN_CHECK(k >= 1 && k <= vocab && k <= kMaxBeamCandidates,
             "{}: k must be in [1, min(vocab = {}, {})], got {}", op, vocab, kMaxBeamCandidates, k);
  require_contiguous(op, out_logprobs, "out_logprobs");
  require_contiguous(op, out_tokens, "out_tokens");
  require_shape(op, out_logprobs, {rows, k}, "out_logprobs");
  require_shape(op, out_tokens, {rows, k}, "out_tokens");
  KILN_CHECK(out_logprobs.dtype() == DType::kFloat32 && out_tokens.dtype() == DType::kInt32,
             "{}: out_logprobs must be fp32 and out_tokens int32", op);
  for (const Tensor* t : {&row_ids, &mask_ids, static_cast<const Tensor*>(&out_logprobs),
                          static_cast<const Tensor*>(&out_tokens)})
    KILN_CHECK(t->device() == logits.device(), "{}: all tensors must be on {}", op,
               logits.device().str());
  if (rows == 0) return;
  if (logits.device().is_cpu()) {
    const int32_t* ids = row_ids.data<int32_t>();
    for (int64_t i = 0; i < rows; ++i)
      KILN_CHECK(ids[i] >= 0 && ids[i] < logits.size(0), "{}: row id {} outside [0, {})", op,
                 ids[i], logits.size(0));
    cpu::beam_candidates(out_logprobs.data<float>(), out_tokens.data<int32_t>(),
                         logits.data<float>(), ids, mask_ids.data<int32_t>(), rows, vocab,
                         max_mask, k);
    return;
  }
  require_cuda_built(op, logits);
#ifdef KILN_WITH_CUDA
  KILN_CHECK(logits.device().is_cuda(), "{}: unsupported device {}", op, logits.device().str());
  cuda::beam_candidates(out_logprobs.data<float>(), out_tokens.data<int32_t>(),
                        logits.data<float>(), row_ids.data<int32_t>(), mask_ids.data<int32_t>(),
                        rows, vocab, max_mask, k, stream_of(ctx));
#endif
}

}  // namespace kiln::ops
