// Host interface of the persistent fused decode kernel (kernels/fused_decode.cuh): every layer
// of a GPT-2-architecture decode step (LayerNorms folded into qkv / fc1, MHA, GELU-tanh MLP) in
// one cooperative launch whose weights stream through a shared-memory ring without stopping at
// the layer's dependencies. Plain C++ (no CUDA headers): the ops layer fills it.
#pragma once

#include <cstdint>

namespace kiln::ops::cuda {

constexpr int kFusedDecodeMaxLayers = 96;
constexpr int kFusedDecodeMaxRows = 8;  // decode tokens (= sequences) per launch

// One block's device pointers, in the compute type T of the launch (fp32 row sums).
struct FusedDecodeLayer {
  const void* qkv_w = nullptr;        // [3E, E] LayerNorm-folded
  const void* qkv_b = nullptr;        // [3E] or null
  const float* qkv_rowsum = nullptr;  // [3E]
  const void* out_w = nullptr;        // [E, E]
  const void* out_b = nullptr;        // [E] or null
  const void* fc_w = nullptr;         // [I, E] LayerNorm-folded
  const void* fc_b = nullptr;         // [I] or null
  const float* fc_rowsum = nullptr;   // [I]
  const void* proj_w = nullptr;       // [E, I]
  const void* proj_b = nullptr;       // [E] or null
  void* k_pool = nullptr;             // [blocks, heads, block_size, head_dim]
  void* v_pool = nullptr;             // same
  float scale_log2 = 0.f;             // attention score scale · log2(e)
};

struct FusedDecodeArgs {
  int layers = 0;
  int n = 0;  // tokens = sequences (one query row each)
  int hidden = 0, heads = 0, head_dim = 0, inner = 0;
  int block_size = 0, max_blocks = 0;
  float eps = 0.f;       // of the folded LayerNorms
  void* h = nullptr;     // [n, E] residual stream, updated in place
  void* qkv = nullptr;   // [n, max(3E, I)] scratch: q | k | v, later the MLP hidden
  void* attn = nullptr;  // [n, E] scratch
  const int32_t* block_tables = nullptr;  // [n, max_blocks]
  const int32_t* cu_seqlens = nullptr;    // [n + 1]
  const int32_t* seq_kv_len = nullptr;    // [n], keys including this step's
  const int32_t* slots = nullptr;         // [n] KV slot of this step's token (< 0: not stored)
  unsigned* counters = nullptr;           // >= 2, zero on entry, left zero
  // Diagnostics (null in production): [layers][5 ops][grid][4] global-timer stamps per CTA —
  // [0] the op's start (its grid barrier passed), [1] its input staged, [2] its work done, [3]
  // when the producer had issued the op's last weight chunk (ops: qkv, attn, out, fc1, fc2).
  unsigned long long* trace = nullptr;
};

// Runs the launch (T = __nv_bfloat16 if is_bf16, else __half) when the shapes, alignment and
// device allow it; returns false (nothing launched) otherwise. The opt-in switch
// (KILN_FUSED_DECODE=1) is ops::fused_gpt_decode's, not this launcher's.
bool fused_gpt_decode(bool is_bf16, const FusedDecodeLayer* layers, const FusedDecodeArgs& args,
                      void* stream);

// Launches made so far in this process (tests check that the fused path ran).
long fused_gpt_decode_launches();

}  // namespace kiln::ops::cuda
