#include "ops/dispatch.h"
#include "ops/ops.h"
#ifdef KILN_WITH_CUDA
#include "ops/cuda/cuda_check.h"
#endif

namespace kiln::ops {

void sample(Tensor& logits, const SamplingTensors& p, Tensor& out_ids, ExecContext& ctx) {
  constexpr const char* op = "sample";
  KILN_CHECK(logits.dim() == 2 && logits.dtype() == DType::kFloat32,
             "{}: logits must be fp32 [rows, vocab]", op);
  const int64_t rows = logits.size(0);
  [[maybe_unused]] const int64_t vocab = logits.size(1);  // CUDA builds
  require_shape(op, out_ids, {rows}, "out_ids");
  for (const Tensor* t :
       {&p.temperature, &p.top_p, &p.repetition_penalty, &p.top_k, &p.step, &p.seed, &p.do_sample})
    KILN_CHECK(t->defined() && t->dim() == 1 && t->size(0) == rows,
               "{}: per-row parameters must be [{}]", op, rows);
  require_shape(op, p.history_offsets, {rows + 1}, "history_offsets");
  KILN_CHECK(p.eos_mask.dim() == 2 && p.eos_mask.size(0) == rows, "{}: eos_mask must be [rows, k]",
             op);
  KILN_CHECK(logits.device().is_cuda(), "{}: device sampling runs on CUDA tensors only", op);
  require_cuda_built(op, logits);
#ifdef KILN_WITH_CUDA
  cuda::SamplingRowParams rp;
  rp.temperature = p.temperature.data<float>();
  rp.top_k = p.top_k.data<int32_t>();
  rp.top_p = p.top_p.data<float>();
  rp.repetition_penalty = p.repetition_penalty.data<float>();
  rp.seed = reinterpret_cast<const uint64_t*>(p.seed.data<int64_t>());
  rp.step = p.step.data<int32_t>();
  rp.do_sample = p.do_sample.data<uint8_t>();
  const size_t ws = cuda::sample_workspace_bytes(rows, vocab);
  KILN_CHECK(ws <= ctx.workspace_bytes, "{}: needs {} bytes of workspace, context has {}", op, ws,
             ctx.workspace_bytes);
  cuda::sample(out_ids.data<int32_t>(), logits.data<float>(), rows, vocab, rp,
               p.history_ids.numel() ? p.history_ids.data<int32_t>() : nullptr,
               p.history_offsets.data<int32_t>(), p.eos_mask.data<int32_t>(), p.eos_mask.size(1),
               ctx.workspace, ctx.workspace_bytes, stream_of(ctx));
#endif
}

namespace {

#ifdef KILN_WITH_CUDA
class PinnedAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    KILN_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "pinned memory");
    return p;
  }
  void deallocate(void* p, size_t) override {
    if (p) cudaFreeHost(p);
  }
  Device device() const override { return Device::cpu(); }
};
#endif

}  // namespace

Allocator* pinned_allocator() {
#ifdef KILN_WITH_CUDA
  static PinnedAllocator a;
  return &a;
#else
  return cpu_allocator();
#endif
}

}  // namespace kiln::ops
