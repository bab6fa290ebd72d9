#include "ops/cpu/kernels.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace kiln::ops {
namespace {

// Rows of a 2-D tensor may be strided, but each row must be dense.
void require_dense_rows(const char* op, const Tensor& t, int64_t cols, const char* name) {
  KILN_CHECK(t.defined() && t.dim() == 2 && t.size(1) == cols && t.strides()[1] == 1,
             "{}: '{}' must be [n, {}] with dense rows, got {}", op, name, cols, t.shape_str());
}

}  // namespace

void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_pool, Tensor& v_pool,
                    const Tensor& slots, ExecContext& ctx) {
  constexpr const char* op = "kv_cache_write";
  KILN_CHECK(k_pool.dim() == 4, "{}: pools must be [blocks, kv_heads, block_size, head_dim]", op);
  const int64_t kvh = k_pool.size(1), block_size = k_pool.size(2), hd = k_pool.size(3);
  const int64_t n = k.size(0);
  require_dense_rows(op, k, kvh * hd, "k");
  require_dense_rows(op, v, kvh * hd, "v");
  KILN_CHECK(v.size(0) == n && v.strides()[0] == k.strides()[0], "{}: k and v rows differ", op);
  require_shape(op, v_pool, k_pool.shape(), "v_pool");
  require_shape(op, slots, {n}, "slots");
  KILN_CHECK(slots.dtype() == DType::kInt32, "{}: slots must be int32", op);
  require_same(op, k_pool, k, "k");
  require_same(op, k_pool, v, "v");
  require_same(op, k_pool, v_pool, "v_pool");
  require_cuda_built(op, k_pool);
#ifdef KILN_WITH_CUDA
  if (k_pool.device().is_cuda()) {
    dispatch_cuda_float(op, k_pool.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::kv_cache_write<T>(k_pool.data<T>(), v_pool.data<T>(), k.data<T>(), v.data<T>(),
                              k.strides()[0], slots.data<int32_t>(), n, kvh, block_size, hd,
                              stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, k_pool);
  const int64_t capacity = k_pool.size(0) * block_size;
  const int32_t* s = slots.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    KILN_CHECK(s[i] >= 0 && s[i] < capacity, "{}: slot {} outside the pool ({} slots)", op, s[i],
               capacity);
  cpu::kv_cache_write(k_pool.data<float>(), v_pool.data<float>(), k.data<float>(), v.data<float>(),
                      k.strides()[0], s, n, kvh, block_size, hd);
}

namespace {

// This step's K/V rows to store before attending (paged_attention_append), already validated.
struct Append {
  const Tensor& k;
  const Tensor& v;
  const Tensor& slots;
};

void attend(const char* op, const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
            const AttentionMeta& meta, float scale, Tensor& out, ExecContext& ctx,
            const Tensor& position_bias, const Append* append) {
  KILN_CHECK(k_pool.dim() == 4, "{}: pools must be [blocks, kv_heads, block_size, head_dim]", op);
  const int64_t num_blocks = k_pool.size(0), kvh = k_pool.size(1), block_size = k_pool.size(2),
                hd = k_pool.size(3);
  KILN_CHECK(q.dim() == 2 && q.size(1) % hd == 0, "{}: q {} is not [n, heads * {}]", op,
             q.shape_str(), hd);
  const int64_t n = q.size(0), heads = q.size(1) / hd;
  require_dense_rows(op, q, heads * hd, "q");
  KILN_CHECK(heads % kvh == 0, "{}: {} heads not a multiple of {} kv heads", op, heads, kvh);
  require_shape(op, v_pool, k_pool.shape(), "v_pool");
  require_shape(op, out, {n, heads * hd}, "out");
  require_contiguous(op, out, "out");
  require_same(op, q, k_pool, "k_pool");
  require_same(op, q, v_pool, "v_pool");
  require_same(op, q, out, "out");
  const Tensor& bt = meta.block_tables;
  KILN_CHECK(bt.dim() == 2 && bt.dtype() == DType::kInt32 && bt.is_contiguous(),
             "{}: block_tables must be contiguous int32 [num_seqs, max_blocks]", op);
  const int64_t num_seqs = bt.size(0), max_blocks = bt.size(1);
  int64_t bias_radius = 0;
  if (position_bias.defined()) {
    KILN_CHECK(position_bias.dim() == 2 && position_bias.size(0) == heads &&
                   position_bias.size(1) % 2 == 1 && position_bias.dtype() == DType::kFloat32 &&
                   position_bias.is_contiguous(),
               "{}: position_bias must be contiguous float32 [{}, 2R + 1], got {}", op, heads,
               position_bias.shape_str());
    KILN_CHECK(position_bias.device() == q.device(), "{}: position_bias is on another device", op);
    bias_radius = (position_bias.size(1) - 1) / 2;
    require_shape(op, meta.cu_seqlens, {num_seqs + 1}, "cu_seqlens");
    require_shape(op, meta.seq_kv_len, {num_seqs}, "seq_kv_len");
  }
  require_cuda_built(op, q);
#ifdef KILN_WITH_CUDA
  if (q.device().is_cuda()) {
    require_shape(op, meta.cu_seqlens, {num_seqs + 1}, "cu_seqlens");
    require_shape(op, meta.seq_kv_len, {num_seqs}, "seq_kv_len");
    // Causal: a sequence's query rows are its last keys. Cross-attention may have more query rows
    // (a long decoder prompt) than encoder keys.
    KILN_CHECK(meta.max_q_len >= 1 && meta.max_kv_len >= 1 &&
                   (!meta.causal || meta.max_kv_len >= meta.max_q_len) &&
                   meta.max_kv_len <= max_blocks * block_size,
               "{}: max_q_len {} / max_kv_len {} inconsistent with {} blocks of {}", op,
               meta.max_q_len, meta.max_kv_len, max_blocks, block_size);
    cuda::PagedAttentionArgs a;
    a.num_seqs = num_seqs;
    a.num_tokens = n;
    a.max_q_len = meta.max_q_len;
    a.max_kv_len = meta.max_kv_len;
    a.heads = heads;
    a.kv_heads = kvh;
    a.head_dim = hd;
    a.block_size = block_size;
    a.max_blocks = max_blocks;
    a.scale = scale;
    a.causal = meta.causal;
    a.position_bias = position_bias.defined() ? position_bias.data<float>() : nullptr;
    a.bias_radius = bias_radius;
    a.counters = ctx.counters;
    a.num_counters = static_cast<int64_t>(ctx.num_counters);
    if (append) {
      a.k_new = append->k.raw();
      a.v_new = append->v.raw();
      a.kv_stride = append->k.strides()[0];
      a.slots = append->slots.data<int32_t>();
    }
    const size_t ws = cuda::paged_attention_workspace_bytes(a);
    KILN_CHECK(ws <= ctx.workspace_bytes, "{}: needs {} bytes of workspace, context has {}", op, ws,
               ctx.workspace_bytes);
    dispatch_cuda_float(op, q.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::paged_attention<T>(out.data<T>(), q.data<T>(), q.strides()[0], k_pool.data<T>(),
                               v_pool.data<T>(), bt.data<int32_t>(),
                               meta.cu_seqlens.data<int32_t>(), meta.seq_kv_len.data<int32_t>(), a,
                               ctx.workspace, stream_of(ctx));
    });
    return;
  }
#endif
  require_cpu_f32(op, q);
  if (append) {
    Tensor& kp = const_cast<Tensor&>(k_pool);  // paged_attention_append's pools are mutable
    Tensor& vp = const_cast<Tensor&>(v_pool);
    kv_cache_write(append->k, append->v, kp, vp, append->slots, ctx);
  }
  require_shape(op, meta.token_seq, {n}, "token_seq");
  require_shape(op, meta.kv_len, {n}, "kv_len");
  const int32_t* ts = meta.token_seq.data<int32_t>();
  const int32_t* kl = meta.kv_len.data<int32_t>();
  const int32_t* table = bt.data<int32_t>();
  for (int64_t t = 0; t < n; ++t) {
    KILN_CHECK(ts[t] >= 0 && ts[t] < num_seqs, "{}: token {} names sequence {} of {}", op, t, ts[t],
               num_seqs);
    KILN_CHECK(kl[t] >= 1 && kl[t] <= max_blocks * block_size,
               "{}: token {} sees {} keys, block table holds {}", op, t, kl[t],
               max_blocks * block_size);
    const int32_t* row = table + ts[t] * max_blocks;
    for (int64_t b = 0; b < (kl[t] + block_size - 1) / block_size; ++b)
      KILN_CHECK(row[b] >= 0 && row[b] < num_blocks, "{}: block table entry {} outside the pool",
                 op, row[b]);
  }
  const int32_t* cu = nullptr;
  const int32_t* skv = nullptr;
  if (position_bias.defined()) {
    cu = meta.cu_seqlens.data<int32_t>();
    skv = meta.seq_kv_len.data<int32_t>();
    KILN_CHECK(cu[0] == 0 && cu[num_seqs] == n, "{}: cu_seqlens do not cover the {} tokens", op, n);
    for (int64_t s = 0; s < num_seqs; ++s)
      KILN_CHECK(cu[s + 1] >= cu[s] && skv[s] >= cu[s + 1] - cu[s],
                 "{}: sequence {} has {} query rows but {} keys", op, s, cu[s + 1] - cu[s], skv[s]);
  }
  cpu::paged_attention(
      out.data<float>(), q.data<float>(), q.strides()[0], k_pool.data<float>(),
      v_pool.data<float>(), table, ts, kl, n, heads, kvh, hd, block_size, max_blocks, scale, cu,
      skv, position_bias.defined() ? position_bias.data<float>() : nullptr, bias_radius);
}

}  // namespace

void paged_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                     const AttentionMeta& meta, float scale, Tensor& out, ExecContext& ctx,
                     const Tensor& position_bias) {
  attend("paged_attention", q, k_pool, v_pool, meta, scale, out, ctx, position_bias, nullptr);
}

void paged_attention_append(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& slots,
                            Tensor& k_pool, Tensor& v_pool, const AttentionMeta& meta, float scale,
                            Tensor& out, ExecContext& ctx, const Tensor& position_bias) {
  constexpr const char* op = "paged_attention_append";
  KILN_CHECK(k_pool.dim() == 4, "{}: pools must be [blocks, kv_heads, block_size, head_dim]", op);
  const int64_t cols = k_pool.size(1) * k_pool.size(3);
  require_dense_rows(op, k, cols, "k");
  require_dense_rows(op, v, cols, "v");
  KILN_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && v.strides()[0] == k.strides()[0],
             "{}: k {} / v {} rows differ from q's {}", op, k.shape_str(), v.shape_str(),
             q.size(0));
  require_shape(op, slots, {q.size(0)}, "slots");
  KILN_CHECK(slots.dtype() == DType::kInt32, "{}: slots must be int32", op);
  require_same(op, k_pool, k, "k");
  require_same(op, k_pool, v, "v");
  const Append append{k, v, slots};
  attend(op, q, k_pool, v_pool, meta, scale, out, ctx, position_bias, &append);
}

}  // namespace kiln::ops
