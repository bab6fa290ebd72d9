#include "ops/fused_decode.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#ifdef KILN_WITH_CUDA
#include "ops/cuda/fused_decode.h"
#include "ops/dispatch.h"
#endif

namespace kiln::ops {

#ifdef KILN_WITH_CUDA
namespace {

const void* ptr_or_null(const Tensor* t) { return t && t->defined() ? t->raw() : nullptr; }

// Shapes, dtypes and layouts the kernel assumes (anything else: the ops path).
bool block_fits(const FusedGptBlock& b, DType dt, int64_t e, int64_t inner) {
  auto is = [&](const Tensor* t, std::initializer_list<int64_t> shape, DType want) {
    return t && t->defined() && t->dtype() == want && t->is_contiguous() && t->device().is_cuda() &&
           t->shape() == Shape(shape);
  };
  auto bias_ok = [&](const Tensor* t, int64_t m) { return !t || !t->defined() || is(t, {m}, dt); };
  return is(b.qkv_w, {3 * e, e}, dt) && is(b.out_w, {e, e}, dt) && is(b.fc_w, {inner, e}, dt) &&
         is(b.proj_w, {e, inner}, dt) && is(b.qkv_rowsum, {3 * e}, DType::kFloat32) &&
         is(b.fc_rowsum, {inner}, DType::kFloat32) && bias_ok(b.qkv_b, 3 * e) &&
         bias_ok(b.out_b, e) && bias_ok(b.fc_b, inner) && bias_ok(b.proj_b, e) && b.k_pool &&
         b.v_pool && b.k_pool->dtype() == dt && b.v_pool->dtype() == dt &&
         b.k_pool->is_contiguous() && b.v_pool->is_contiguous() && b.k_pool->dim() == 4 &&
         b.v_pool->shape() == b.k_pool->shape();
}

}  // namespace
#endif

bool fused_gpt_decode_requested() {
  const char* env = std::getenv("KILN_FUSED_DECODE");
  return env && std::strcmp(env, "1") == 0;
}

bool fused_gpt_decode(const std::vector<FusedGptBlock>& blocks, int heads, Tensor& h,
                      Tensor& scratch, Tensor& attn, const Tensor& slots, const AttentionMeta& meta,
                      ExecContext& ctx) {
#ifdef KILN_WITH_CUDA
  // Opt-in: measured slower than the op-by-op chain (docs/design.md "Persistent fused decode").
  if (!fused_gpt_decode_requested()) return false;
  if (blocks.empty() || !h.defined() || !h.device().is_cuda() || h.dim() != 2) return false;
  const DType dt = h.dtype();
  if (dt != DType::kFloat16 && dt != DType::kBFloat16) return false;
  const int64_t n = h.size(0), e = h.size(1);
  if (n > cuda::kFusedDecodeMaxRows || meta.max_q_len > 1 || !meta.causal) return false;
  if (!meta.cu_seqlens.defined() || meta.cu_seqlens.size(0) != n + 1) return false;  // 1 row each
  const int64_t inner = blocks[0].fc_w && blocks[0].fc_w->defined() ? blocks[0].fc_w->size(0) : 0;
  if (!h.is_contiguous() || !attn.is_contiguous() || !scratch.is_contiguous() ||
      attn.shape() != h.shape() || scratch.dim() != 2 || scratch.size(0) < n ||
      scratch.size(1) < std::max(3 * e, inner) || attn.dtype() != dt || scratch.dtype() != dt)
    return false;
  const Tensor& pool0 = *blocks[0].k_pool;
  for (const FusedGptBlock& b : blocks)
    if (!block_fits(b, dt, e, inner) || b.k_pool->shape() != pool0.shape() ||
        b.eps != blocks[0].eps)
      return false;
  if (pool0.size(1) != heads || heads * pool0.size(3) != e) return false;  // MHA
  if (!ctx.counters || ctx.num_counters < 2) return false;
  const auto index_ok = [&](const Tensor& t, int64_t rows) {
    return t.defined() && t.dtype() == DType::kInt32 && t.is_contiguous() && t.size(0) >= rows;
  };
  if (!index_ok(meta.block_tables, n) || meta.block_tables.dim() != 2 ||
      !index_ok(meta.seq_kv_len, n) || !index_ok(slots, n) || !index_ok(meta.cu_seqlens, n + 1))
    return false;
  std::vector<cuda::FusedDecodeLayer> layers(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const FusedGptBlock& b = blocks[i];
    cuda::FusedDecodeLayer& L = layers[i];
    L.qkv_w = b.qkv_w->raw();
    L.qkv_b = ptr_or_null(b.qkv_b);
    L.qkv_rowsum = b.qkv_rowsum->data<float>();
    L.out_w = b.out_w->raw();
    L.out_b = ptr_or_null(b.out_b);
    L.fc_w = b.fc_w->raw();
    L.fc_b = ptr_or_null(b.fc_b);
    L.fc_rowsum = b.fc_rowsum->data<float>();
    L.proj_w = b.proj_w->raw();
    L.proj_b = ptr_or_null(b.proj_b);
    L.k_pool = b.k_pool->raw();
    L.v_pool = b.v_pool->raw();
    L.scale_log2 = b.scale * static_cast<float>(M_LOG2E);
  }
  cuda::FusedDecodeArgs a;
  a.layers = static_cast<int>(blocks.size());
  a.n = static_cast<int>(n);
  a.hidden = static_cast<int>(e);
  a.heads = heads;
  a.head_dim = static_cast<int>(pool0.size(3));
  a.inner = static_cast<int>(inner);
  a.block_size = static_cast<int>(pool0.size(2));
  a.max_blocks = static_cast<int>(meta.block_tables.size(1));
  a.eps = blocks[0].eps;
  a.h = h.raw();
  a.qkv = scratch.raw();
  a.attn = attn.raw();
  a.block_tables = meta.block_tables.data<int32_t>();
  a.cu_seqlens = meta.cu_seqlens.data<int32_t>();
  a.seq_kv_len = meta.seq_kv_len.data<int32_t>();
  a.slots = slots.data<int32_t>();
  a.counters = ctx.counters;
  return cuda::fused_gpt_decode(dt == DType::kBFloat16, layers.data(), a, stream_of(ctx));
#else
  (void)blocks, (void)heads, (void)h, (void)scratch, (void)attn, (void)slots, (void)meta, (void)ctx;
  return false;
#endif
}

}  // namespace kiln::ops
