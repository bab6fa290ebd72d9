#include "layers/attention.h"

namespace kiln::layers {

void SelfAttention::forward(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool,
                            Tensor& v_pool, Tensor& y, Workspace& ws, ExecContext& ctx) const {
  const int64_t n = x.size(0);
  const int64_t q_cols = int64_t{num_heads} * head_dim, kv_cols = int64_t{num_kv_heads} * head_dim;
  Tensor qkv_out = ws.take({n, q_cols + 2 * kv_cols}, x.dtype());  // [n, q | k | v]
  qkv.forward(x, qkv_out, ctx);
  if (rotary) rotary->apply(qkv_out, num_heads + num_kv_heads, head_dim, batch, ws, ctx);
  const Tensor q = qkv_out.slice(1, 0, q_cols);
  const Tensor k = qkv_out.slice(1, q_cols, q_cols + kv_cols);
  const Tensor v = qkv_out.slice(1, q_cols + kv_cols, q_cols + 2 * kv_cols);
  ops::kv_cache_write(k, v, k_pool, v_pool, batch.slots, ctx);
  Tensor attn = ws.take({n, q_cols}, x.dtype());  // [n, heads * head_dim]
  ops::paged_attention(q, k_pool, v_pool, batch.attn, scale, attn, ctx);
  out.forward(attn, y, ctx);
}

}  // namespace kiln::layers
