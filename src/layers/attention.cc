#include "layers/attention.h"

#include "core/check.h"

namespace kiln::layers {

Tensor SelfAttention::attend(const Tensor& qkv_out, const Tensor& slots,
                             const ops::AttentionMeta& meta, Tensor& k_pool, Tensor& v_pool,
                             Workspace& ws, ExecContext& ctx) const {
  const int64_t n = qkv_out.size(0);
  const int64_t q_cols = int64_t{num_heads} * head_dim, kv_cols = int64_t{num_kv_heads} * head_dim;
  const Tensor q = qkv_out.slice(1, 0, q_cols);
  const Tensor k = qkv_out.slice(1, q_cols, q_cols + kv_cols);
  const Tensor v = qkv_out.slice(1, q_cols + kv_cols, q_cols + 2 * kv_cols);
  Tensor attn = ws.take({n, q_cols}, qkv_out.dtype());  // [n, heads * head_dim]
  ops::paged_attention_append(q, k, v, slots, k_pool, v_pool, meta, scale, attn, ctx,
                              position_bias);
  return attn;
}

Tensor SelfAttention::forward_heads(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool,
                                    Tensor& v_pool, Workspace& ws, ExecContext& ctx) const {
  const int64_t n = x.size(0);
  const int64_t q_cols = int64_t{num_heads} * head_dim, kv_cols = int64_t{num_kv_heads} * head_dim;
  Tensor qkv_out = ws.take({n, q_cols + 2 * kv_cols}, x.dtype());  // [n, q | k | v]
  qkv.forward(x, qkv_out, ctx);
  return attend_qkv(qkv_out, batch, k_pool, v_pool, ws, ctx);
}

Tensor SelfAttention::attend_qkv(Tensor& qkv_out, const ForwardBatch& batch, Tensor& k_pool,
                                 Tensor& v_pool, Workspace& ws, ExecContext& ctx) const {
  if (rotary) rotary->apply(qkv_out, num_heads + num_kv_heads, head_dim, batch, ws, ctx);
  return attend(qkv_out, batch.slots, batch.attn, k_pool, v_pool, ws, ctx);
}

void SelfAttention::forward(const Tensor& x, const ForwardBatch& batch, Tensor& k_pool,
                            Tensor& v_pool, Tensor& y, Workspace& ws, ExecContext& ctx) const {
  out.forward(forward_heads(x, batch, k_pool, v_pool, ws, ctx), y, ctx);
}

void SelfAttention::forward_encoder(const Tensor& x, const EncoderBatch& batch, Tensor& k_scratch,
                                    Tensor& v_scratch, Tensor& y, Workspace& ws,
                                    ExecContext& ctx) const {
  KILN_CHECK(!rotary, "encoder self-attention with rotary embeddings is not supported");
  const int64_t n = x.size(0);
  const int64_t q_cols = int64_t{num_heads} * head_dim, kv_cols = int64_t{num_kv_heads} * head_dim;
  Tensor qkv_out = ws.take({n, q_cols + 2 * kv_cols}, x.dtype());  // [n, q | k | v]
  qkv.forward(x, qkv_out, ctx);
  out.forward(attend(qkv_out, batch.scratch_slots, batch.attn, k_scratch, v_scratch, ws, ctx), y,
              ctx);
}

void CrossAttention::write_kv(const Tensor& enc, const Tensor& cross_slots, Tensor& k_pool,
                              Tensor& v_pool, Workspace& ws, ExecContext& ctx) const {
  const int64_t n = enc.size(0), cols = int64_t{num_heads} * head_dim;
  Tensor kv_out = ws.take({n, 2 * cols}, enc.dtype());  // [n_enc, k | v]
  kv.forward(enc, kv_out, ctx);
  ops::kv_cache_write(kv_out.slice(1, 0, cols), kv_out.slice(1, cols, 2 * cols), k_pool, v_pool,
                      cross_slots, ctx);
}

void CrossAttention::forward(const Tensor& x, const ForwardBatch& batch, const Tensor& k_pool,
                             const Tensor& v_pool, Tensor& y, Workspace& ws,
                             ExecContext& ctx) const {
  const int64_t n = x.size(0), cols = int64_t{num_heads} * head_dim;
  Tensor q_out = ws.take({n, cols}, x.dtype());  // [n, heads * head_dim]
  q.forward(x, q_out, ctx);
  Tensor attn = ws.take({n, cols}, x.dtype());  // [n, heads * head_dim]
  ops::paged_attention(q_out, k_pool, v_pool, batch.cross, scale, attn, ctx);
  out.forward(attn, y, ctx);
}

}  // namespace kiln::layers
