// CUDA kernel launchers: raw pointers, sizes, stream last — the same parameter order as the cpu::
// twins in ops/cpu/kernels.h. T is float, __half or __nv_bfloat16 (explicitly instantiated in the
// .cu files); accumulation, softmax and norm statistics are fp32. Launchers validate nothing that
// the ops in ops/*.cc already checked on the host, and never synchronise.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "ops/activation_kind.h"

namespace kiln::ops::cuda {

// ---- elementwise / rows -------------------------------------------------------------------
// out [n, d] (+)= table [vocab, d] rows at ids [n]. ids were validated on the host; an id outside
// [0, vocab) reads row 0 (never out of bounds).
template <class T>
void embedding(T* out, const int32_t* ids, const T* table, int64_t n, int64_t vocab, int64_t d,
               bool accumulate, cudaStream_t stream);

// out [rows, d] = LayerNorm(x) * w + b (b may be null).
template <class T>
void layer_norm(T* out, const T* x, const T* w, const T* b, int64_t rows, int64_t d, float eps,
                cudaStream_t stream);

// Fused residual add + LayerNorm: residual [rows, d] += delta; out = LayerNorm(residual) * w + b.
template <class T>
void add_layer_norm(T* residual, T* out, const T* delta, const T* w, const T* b, int64_t rows,
                    int64_t d, float eps, cudaStream_t stream);

// out [rows, d] = rms_norm(x) * w. With residual non-null: residual [rows, d] += x (the delta)
// first, rounded to T, and that sum is normalised (equals add() then rms_norm()).
template <class T>
void rms_norm(T* out, T* residual, const T* x, const T* w, int64_t rows, int64_t d, float eps,
              cudaStream_t stream);

// Rotary embedding in place on the first num_heads heads of each row of x [n, row_width].
// token_seq/seq_len non-null: per-token rows of inv_freq [rows, rotary_dim / 2], row =
// clamp(seq_len[token_seq[t]] - base_len, 0, rows - 1) (dynamic NTK).
template <class T>
void rotary_embedding(T* x, const int32_t* positions, const float* inv_freq, int64_t n,
                      int64_t row_width, int num_heads, int head_dim, int rotary_dim,
                      bool interleaved, float attention_scaling, const int32_t* token_seq,
                      const int32_t* seq_len, int64_t base_len, int64_t rows, cudaStream_t stream);

// out [rows, d] = act(x[:, :d]) * x[:, d:], x [rows, 2d].
template <class T>
void gated_activation(T* out, const T* x, int64_t rows, int64_t d, ActivationKind kind,
                      cudaStream_t stream);

// x [count] = act(x) in place.
template <class T>
void activation(T* x, int64_t count, ActivationKind kind, cudaStream_t stream);

// out [count] = a + b (out may alias a or b).
template <class T>
void add(T* out, const T* a, const T* b, int64_t count, cudaStream_t stream);

// out [m, d] = x [.., d] rows at rows [m].
template <class T>
void gather_rows(T* out, const T* x, const int32_t* rows, int64_t m, int64_t d,
                 cudaStream_t stream);

// Element type conversion, count elements (float <-> half <-> bf16).
template <class Src, class Dst>
void convert(Dst* out, const Src* in, int64_t count, cudaStream_t stream);

// ---- GEMM (cuBLASLt) -----------------------------------------------------------------------
enum class Epilogue { kNone, kBias, kBiasGelu };  // GELU = tanh approximation (gelu_new)
// out [n, m] (OutT) = x [n, k] · w [m, k]ᵀ (+ bias [m]) (then GELU). T is the input type;
// OutT is T or float (e.g. fp32 logits from fp16 weights). fp32 accumulation. workspace may be
// null (then cuBLASLt gets none). x and out have dense rows of k and m elements.
template <class T, class OutT>
void linear(OutT* out, const T* x, const T* w, const T* bias, int64_t n, int64_t m, int64_t k,
            Epilogue epilogue, cublasLtHandle_t handle, void* workspace, size_t workspace_bytes,
            cudaStream_t stream);

// ---- paged KV cache and attention ----------------------------------------------------------
// Pools [num_blocks, kv_heads, block_size, head_dim]; k/v rows kv_stride elements apart
// (column slices of a fused QKV output); slots [n] = block * block_size + offset.
// pools [num_pools] device array of pool base addresses; pairs [n, 2] (src block, dst block).
void copy_blocks(char* const* pools, int64_t num_pools, const int32_t* pairs, int64_t n,
                 int64_t block_bytes, cudaStream_t stream);

template <class T>
void kv_cache_write(T* k_pool, T* v_pool, const T* k, const T* v, int64_t kv_stride,
                    const int32_t* slots, int64_t n, int64_t kv_heads, int64_t block_size,
                    int64_t head_dim, cudaStream_t stream);

// Causal attention of packed query tokens over the paged cache (K/V of this step already written).
// Sequence s owns query rows [cu_seqlens[s], cu_seqlens[s+1]) of q/out and has seq_kv_len[s] keys
// in total after this step; its query row i (0-based within the sequence) is at position
// seq_kv_len[s] - q_len_s + i and sees keys [0, that position]. Covers full prefill, chunked
// prefill (q_len < kv_len) and decode (q_len == 1) in one launch; heads % kv_heads == 0
// (MHA/GQA/MQA share one kernel family). q rows are q_stride elements apart; out is dense
// [n, heads * head_dim]. scores = (q·k) * scale in fp32, fp32 softmax.
// workspace: device scratch for split-K partial results, at least
// paged_attention_workspace_bytes(...) bytes (may be null when that returns 0).
struct PagedAttentionArgs {
  int64_t num_seqs = 0;
  int64_t num_tokens = 0;
  int64_t max_q_len = 0;   // max over sequences of the query rows this step (host-known)
  int64_t max_kv_len = 0;  // max over sequences of seq_kv_len (host-known)
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t block_size = 0, max_blocks = 0;  // block_tables is [num_seqs, max_blocks]
  float scale = 1.f;
  bool causal = true;  // false: every query row sees all seq_kv_len keys (encoder, cross-attention)
  // Optional relative bias [heads, 2 * bias_radius + 1] fp32: + bias[h, clamp(j - i, -R, R) + R]
  // for the query at position i and key j (i as in the causal case, also when not causal).
  const float* position_bias = nullptr;
  int64_t bias_radius = 0;
  // Optional: this step's K/V rows, appended to the pools before attending (what kv_cache_write
  // stores): k_new / v_new [num_tokens, kv_stride] of T, slots [num_tokens] (< 0: not stored).
  // The decode-row kernel stores them itself and reads the new key from them; every other
  // launch runs kv_cache_write first. The pools are written: they must not be const data.
  const void* k_new = nullptr;
  const void* v_new = nullptr;
  int64_t kv_stride = 0;
  const int32_t* slots = nullptr;
  // Optional arrival counters (ExecContext::counters, zero on entry, left zero): with at least
  // num_seqs * heads of them, split decode-row launches combine their partials in the last CTA
  // of each (sequence, head) instead of a separate reduce kernel.
  unsigned* counters = nullptr;
  int64_t num_counters = 0;
};
size_t paged_attention_workspace_bytes(const PagedAttentionArgs& a);
template <class T>
void paged_attention(T* out, const T* q, int64_t q_stride, const T* k_pool, const T* v_pool,
                     const int32_t* block_tables, const int32_t* cu_seqlens,
                     const int32_t* seq_kv_len, const PagedAttentionArgs& args, void* workspace,
                     cudaStream_t stream);

// ---- sampling (only token ids leave the device) --------------------------------------------
// Per-row parameters live on the device, [rows] each.
struct SamplingRowParams {
  const float* temperature;         // <= 0 or do_sample == 0: greedy
  const int32_t* top_k;             // 0: off
  const float* top_p;               // 1: off
  const float* repetition_penalty;  // 1: off
  const uint64_t* seed;             // per row
  const int32_t* step;              // per row: generated-token index (RNG counter)
  const uint8_t* do_sample;         // 0 greedy (argmax, first maximum as torch.argmax), 1 sample
};
// logits [rows, vocab] fp32, modified in place (penalties, masking). history: token ids seen by
// each row (prompt + generated) as CSR: history_ids[history_offsets[r] .. history_offsets[r+1]).
// eos_mask_ids [rows, max_eos] (-1 padded): ids set to -inf for rows still under min_new_tokens.
// out_ids [rows] int32.
void sample(int32_t* out_ids, float* logits, int64_t rows, int64_t vocab,
            const SamplingRowParams& params, const int32_t* history_ids,
            const int32_t* history_offsets, const int32_t* eos_mask_ids, int64_t max_eos,
            void* workspace, size_t workspace_bytes, cudaStream_t stream);
size_t sample_workspace_bytes(int64_t rows, int64_t vocab);

// ---- beam-search candidates (only [rows, k] leave the device) --------------------------------
// One CTA per row: logits row row_ids[i] [vocab] fp32 -> log_softmax (fp32 exponentials summed in
// double), mask_ids[i, :max_mask] (-1 padded) -> -inf, then the k best (log-prob descending, NaN
// as +inf, ties to the lower token) into out_logprobs/out_tokens [rows, k]. k <= 128.
void beam_candidates(float* out_logprobs, int32_t* out_tokens, const float* logits,
                     const int32_t* row_ids, const int32_t* mask_ids, int64_t rows, int64_t vocab,
                     int64_t max_mask, int64_t k, cudaStream_t stream);

}  // namespace kiln::ops::cuda
