// CPU fp32 reference kernels: the correctness oracle for every other backend. Raw pointers, sizes,
// and the same parameter order as the cuda:: twins. Multithreaded with OpenMP; GEMM via OpenBLAS.
#pragma once

#include <cstdint>

#include "ops/activation_kind.h"

namespace kiln::ops::cpu {

// out [n, d] (+)= table [vocab, d] rows at ids [n]. Returns the first invalid id index or -1.
int64_t embedding(float* out, const int32_t* ids, const float* table, int64_t n, int64_t vocab,
                  int64_t d, bool accumulate);
void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t rows,
                int64_t d, float eps);
// out [n, m] = x [n, k] · w [m, k]ᵀ + bias [m] (bias may be null).
void linear(float* out, const float* x, const float* w, const float* bias, int64_t n, int64_t m,
            int64_t k);
void activation(float* x, int64_t count, ActivationKind kind);
// out [rows, d] = act(x[:, :d]) * x[:, d:], x [rows, 2d].
void gated_activation(float* out, const float* x, int64_t rows, int64_t d, ActivationKind kind);
// out/x [rows, d], w [d]. residual variant: residual += delta first (out = norm of the sum).
void rms_norm(float* out, const float* x, const float* w, int64_t rows, int64_t d, float eps);
void add_rms_norm(float* residual, float* out, const float* delta, const float* w, int64_t rows,
                  int64_t d, float eps);
// x [n, row_width]: rotate the first num_heads heads in place (see ops::rotary_embedding).
// table (optional): per-token rows of inv_freq [rows, rotary_dim / 2] (ops::rotary_embedding_table).
struct RotaryTable {
  const int32_t* token_seq = nullptr;  // [n]; null: one inv_freq for every token
  const int32_t* seq_len = nullptr;    // [num_seqs]
  int64_t base_len = 0;
  int64_t rows = 1;
};
void rotary_embedding(float* x, const int32_t* positions, const float* inv_freq, int64_t n,
                      int64_t row_width, int num_heads, int head_dim, int rotary_dim,
                      bool interleaved, float attention_scaling, RotaryTable table = {});
void add(float* out, const float* a, const float* b, int64_t count);
void gather_rows(float* out, const float* x, const int32_t* rows, int64_t m, int64_t d);
// pools [num_pools] base addresses; pairs [n, 2] (src block, dst block).
void copy_blocks(char* const* pools, int64_t num_pools, const int32_t* pairs, int64_t n,
                 int64_t block_bytes);
// k/v rows are `kv_stride` floats apart (so they can be column slices of a fused QKV output).
void kv_cache_write(float* k_pool, float* v_pool, const float* k, const float* v, int64_t kv_stride,
                    const int32_t* slots, int64_t n, int64_t kv_heads, int64_t block_size,
                    int64_t head_dim);
// q rows are `q_stride` floats apart; out is dense [n, heads * head_dim]. Token t sees keys
// [0, kv_len[t]). position_bias (null: none) is [heads, 2 * bias_radius + 1]; it needs
// cu_seqlens [num_seqs + 1] and seq_kv_len [num_seqs] for the query positions.
void paged_attention(float* out, const float* q, int64_t q_stride, const float* k_pool, const float* v_pool,
                     const int32_t* block_tables, const int32_t* token_seq, const int32_t* kv_len,
                     int64_t n, int64_t heads, int64_t kv_heads, int64_t head_dim,
                     int64_t block_size, int64_t max_blocks, float scale,
                     const int32_t* cu_seqlens = nullptr, const int32_t* seq_kv_len = nullptr,
                     const float* position_bias = nullptr, int64_t bias_radius = 0);

// log_softmax of one fp32 row in place: x - max - log(sum(exp(x - max))), the exponentials
// rounded to fp32 (as torch) and summed in double; a row whose max is -inf is left as it is.
// The host beam search (runtime/sampling/beam_search.cc) uses exactly this.
void log_softmax_row(float* row, int64_t vocab);
// The twin of cuda::beam_candidates (see ops::beam_candidates): logits [.., vocab], row_ids
// [rows], mask_ids [rows, max_mask] (-1 padded), out_logprobs/out_tokens [rows, k].
void beam_candidates(float* out_logprobs, int32_t* out_tokens, const float* logits,
                     const int32_t* row_ids, const int32_t* mask_ids, int64_t rows, int64_t vocab,
                     int64_t max_mask, int64_t k);

}  // namespace kiln::ops::cpu
