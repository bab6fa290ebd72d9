// Op declarations: free functions over tensors. Each checks shapes once and dispatches once on
// (device, dtype) to a kernel that takes raw pointers (cpu:: in ops/cpu, cuda:: in ops/cuda).
// All tensors of one call live on one device; CPU tensors are float32.
#pragma once

#include "core/exec_context.h"
#include "core/tensor.h"
#include "ops/activation_kind.h"

namespace kiln::ops {

// out[i, :] (+)= table[ids[i], :].  ids [n] int32, table [vocab, hidden], out [n, hidden].
// On the CPU ids outside [0, vocab) throw; CUDA ids are validated by the runtime beforehand.
void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate,
               ExecContext& ctx);

// out = LayerNorm(x) * w + b, statistics in fp32.  x/out [n, d], w/b [d] (b may be undefined).
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& out,
                ExecContext& ctx);

// Fused residual add + LayerNorm: residual += delta; out = LayerNorm(residual) * w + b.
void add_layer_norm(Tensor& residual, const Tensor& delta, const Tensor& w, const Tensor& b,
                    float eps, Tensor& out, ExecContext& ctx);

// residual += linear(x, w, bias); normed = LayerNorm(residual) * ln_w + ln_b — what linear into
// tmp then add_layer_norm computes (tmp [n, out] is their scratch), in one GEMV launch at CUDA
// decode sizes (16-bit, <= 8 rows: the LayerNorm in the grid's last CTA).
void linear_add_layer_norm(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& residual,
                           const Tensor& ln_w, const Tensor& ln_b, float eps, Tensor& normed,
                           Tensor& tmp, ExecContext& ctx);

// out = linear(LayerNorm(x) * ln_w + ln_b, w, bias) (then GELU(tanh) if gelu); normed [n, in]
// is the scratch of the unfused path. With rowsum [out] (fp32, Σ_k w) defined, the caller
// guarantees ln_w/ln_b are the identity affine (γ and β folded into w and bias,
// models/common/ln_fold.h), and at CUDA decode sizes one GEMV takes the row statistics itself.
void layer_norm_linear(const Tensor& x, const Tensor& ln_w, const Tensor& ln_b, float eps,
                       const Tensor& w, const Tensor& bias, const Tensor& rowsum, bool gelu,
                       Tensor& normed, Tensor& out, ExecContext& ctx);

// residual += linear(x, w, bias) (tmp [n, out]: the unfused path's scratch); one GEMV at CUDA
// decode sizes.
void linear_add(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& residual, Tensor& tmp,
                ExecContext& ctx);

// The most rows for which layer_norm_linear and linear_add can be one GEMV (cuda::gemv's n cap).
// Beyond it they run unfused, a separate add and LayerNorm per sublayer, so a folded model (ln_w /
// ln_b the identity affine) is better run through linear_add_layer_norm then linear: one fused
// add + LayerNorm kernel, as an unfolded model.
constexpr int64_t kFoldedGemvMaxRows = 8;

// out = x / sqrt(mean(x²) + eps) * w, statistics in fp32 (LLaMA's RMSNorm, T5's LayerNorm).
// x/out [n, d], w [d].
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out, ExecContext& ctx);

// Fused residual add + RMSNorm: residual += delta; out = rms_norm(residual) * w.
void add_rms_norm(Tensor& residual, const Tensor& delta, const Tensor& w, float eps, Tensor& out,
                  ExecContext& ctx);

// Rotary position embedding, in place, on the first num_heads heads of every row of x
// [n, row_width] (a fused qkv row holds the query heads, then the key heads, then the values):
// in each head the first rotary_dim dims are rotated by angle positions[t] * inv_freq[i]
// (i < rotary_dim / 2), with cos and sin multiplied by attention_scaling (YaRN). neox style
// (HF rotate_half) pairs dims (i, i + rotary_dim / 2); interleaved (GPT-J) pairs (2i, 2i + 1).
// positions [n] int32, inv_freq [rotary_dim / 2] float32 (on x's device). fp32 math.
void rotary_embedding(Tensor& x, const Tensor& positions, const Tensor& inv_freq, int num_heads,
                      int head_dim, int rotary_dim, bool interleaved, float attention_scaling,
                      ExecContext& ctx);

// Per-sequence frequencies (dynamic NTK): inv_freq_table [rows, rotary_dim / 2]; token t uses row
// clamp(seq_len[token_seq[t]] - base_len, 0, rows - 1). token_seq [n], seq_len [num_seqs] int32
// (the step's AttentionMeta token_seq and seq_kv_len), on x's device.
void rotary_embedding_table(Tensor& x, const Tensor& positions, const Tensor& inv_freq_table,
                            const Tensor& token_seq, const Tensor& seq_len, int64_t base_len,
                            int num_heads, int head_dim, int rotary_dim, bool interleaved,
                            float attention_scaling, ExecContext& ctx);

// Gated activation (SwiGLU and kin): out = act(x[:, :d]) * x[:, d:].  x [n, 2d], out [n, d].
void gated_activation(const Tensor& x, ActivationKind kind, Tensor& out, ExecContext& ctx);

// out = x · wᵀ (+ bias) (then GELU(tanh) if gelu).  x [n, in], w [out_features, in] (HF layout),
// bias [out_features], out [n, out_features]. out may be float32 while x/w are 16-bit (logits).
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& out, ExecContext& ctx,
            bool gelu = false);

// In place: x = act(x).  x [n, d].
void activation(Tensor& x, ActivationKind kind, ExecContext& ctx);

// out = a + b (same shape; out may alias a or b).
void add(const Tensor& a, const Tensor& b, Tensor& out, ExecContext& ctx);

// out[i, :] = x[rows[i], :].  x [n, d], rows [m] int32, out [m, d].
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out, ExecContext& ctx);

// Copy-on-write block copies in one launch: for every pool address in pools [num_pools] int64
// (each layer's K and V pool base, on the op's device) and every (src, dst) row of pairs [n, 2]
// int32, bytes [dst * block_bytes, +block_bytes) = [src * block_bytes, ...). All on one device.
void copy_blocks(const Tensor& pools, const Tensor& pairs, int64_t block_bytes, ExecContext& ctx);

// Copies src into dst (same shape and dtype; any pair of devices), asynchronously on ctx's stream.
void copy(const Tensor& src, Tensor& dst, ExecContext& ctx);
// Waits for ctx's stream (no-op on the CPU).
void synchronize(ExecContext& ctx);
// A copy of src in dtype on alloc's device (floats convert on the host first).
Tensor to_device(const Tensor& src, DType dtype, Allocator* alloc, ExecContext& ctx);

// Page-locked host memory for fast, asynchronous host<->device copies (plain host memory in a
// build without CUDA).
Allocator* pinned_allocator();

// Sampling on the device (only token ids leave it): logits [rows, vocab] fp32 (modified in place);
// per-row params [rows]: temperature, top_p, repetition_penalty (float32), top_k, step (int32),
// seed (int64 holding the uint64 bits), do_sample (uint8); history_ids/history_offsets: CSR of the
// token ids each row has seen (offsets [rows + 1]); eos_mask [rows, max_eos] int32 (-1 padded).
// out_ids [rows] int32. CUDA only: the CPU runtime samples on the host (runtime/sampling).
struct SamplingTensors {
  Tensor temperature, top_p, repetition_penalty, top_k, step, seed, do_sample;
  Tensor history_ids, history_offsets, eos_mask;
};
void sample(Tensor& logits, const SamplingTensors& params, Tensor& out_ids, ExecContext& ctx);

// Beam-search candidates (only [rows, k] leave the device): for each i < rows, logits row
// row_ids[i] -> log_softmax in fp32 (exponentials of x - max rounded to fp32 and summed in double,
// as runtime/sampling/beam_search.cc; a row whose max is -inf is left as it is), the ids
// mask_ids[i, :] (-1 padded; ids outside [0, vocab) ignored) set to -inf (HF's min-length /
// min-new-tokens masks act on beam search's log-probs), then the row's k best, best first:
// log-prob descending (NaN ranks as +inf, as torch.topk), ties to the lower token id.
// logits [n, vocab] fp32; row_ids [rows] int32 in [0, n); mask_ids [rows, m] int32 with
// m <= kMaxBeamMaskIds; 1 <= k <= min(vocab, kMaxBeamCandidates); out_logprobs [rows, k] fp32,
// out_tokens [rows, k] int32. CUDA, and the CPU twin (the host beam search's own functions).
inline constexpr int64_t kMaxBeamCandidates = 128;
inline constexpr int64_t kMaxBeamMaskIds = 32;
void beam_candidates(const Tensor& logits, const Tensor& row_ids, const Tensor& mask_ids, int64_t k,
                     Tensor& out_logprobs, Tensor& out_tokens, ExecContext& ctx);

// Per-step attention metadata for the packed batch; tensors on the op's device.
struct AttentionMeta {
  Tensor block_tables;     // [num_seqs, max_blocks] int32
  Tensor token_seq;        // [n] int32, sequence of each token (CPU kernels)
  Tensor kv_len;           // [n] int32, keys visible to each token (CPU kernels)
  Tensor cu_seqlens;       // [num_seqs + 1] int32, query rows of each sequence (CUDA kernels)
  Tensor seq_kv_len;       // [num_seqs] int32, keys of each sequence after this step (CUDA kernels)
  int64_t max_q_len = 0;   // upper bound of query rows per sequence (host-known)
  int64_t max_kv_len = 0;  // upper bound of seq_kv_len (host-known)
  // true: query row i of a sequence sits at position seq_kv_len - q_len + i and sees keys up to
  // it. false: every query row sees all seq_kv_len keys (encoder self-attention, cross-attention;
  // the CPU kernels read the same visibility from kv_len).
  bool causal = true;
};

// Writes this step's K/V into the paged pools.  k/v [n, kv_heads * head_dim] (rows may be strided,
// e.g. column slices of a fused QKV output); pools [num_blocks, kv_heads, block_size, head_dim];
// slots [n] int32 = block * block_size + offset.
void kv_cache_write(const Tensor& k, const Tensor& v, Tensor& k_pool, Tensor& v_pool,
                    const Tensor& slots, ExecContext& ctx);

// Causal attention of packed query tokens over the paged cache (K/V of this step already written).
// q [n, heads * head_dim] (rows may be strided), out [n, heads * head_dim] dense; pools
// [num_blocks, kv_heads, block_size, head_dim]; heads % kv_heads == 0 (MHA/GQA/MQA).
// scores = (q·k) * scale (+ bias), softmax in fp32. meta.causal = false: no causal mask.
// position_bias (optional, T5's relative attention bias tabulated by distance): float32
// [heads, 2R + 1]; the score of a query at position i and key j gets position_bias[h,
// clamp(j - i, -R, R) + R], where a sequence's query rows are its last q_len positions
// (i = seq_kv_len - q_len + row), as in self-attention.
void paged_attention(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool,
                     const AttentionMeta& meta, float scale, Tensor& out, ExecContext& ctx,
                     const Tensor& position_bias = Tensor());

// kv_cache_write(k, v, k_pool, v_pool, slots) then paged_attention(q, ...), in one launch where
// the backend can (CUDA decode-only MHA steps: the attention kernel stores the new rows itself).
void paged_attention_append(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& slots,
                            Tensor& k_pool, Tensor& v_pool, const AttentionMeta& meta, float scale,
                            Tensor& out, ExecContext& ctx, const Tensor& position_bias = Tensor());

}  // namespace kiln::ops
