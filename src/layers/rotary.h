// Rotary position embedding (RoPE): the inverse frequencies of every rope_type Hugging Face's
// modeling_rope_utils implements for LLaMA (default, linear, dynamic NTK, llama3, yarn), computed
// on the host in fp32 with HF's operation order, and the layer that rotates q and k of a fused
// qkv row between the QKV projection and the KV-cache write.
//
// Dynamic NTK: HF recomputes inv_freq from seq_len = max(position) + 1 of each forward call once it
// grows beyond max_position_embeddings (keys already cached keep their old rotation). kiln applies
// that rule per sequence and per step: the tokens one sequence runs in a step are rotated with
// inv_freq(max(last position + 1, max_position_embeddings)). For a prompt prefilled whole and then
// decoded one token a step this is exactly HF's generate on that prompt alone (fresh rotary state);
// it does not depend on which other sequences share the step (HF's padded batch would use the
// batch's longest). A prompt beyond max_position_embeddings prefilled in chunks sees each chunk
// rotated for the chunk's end, as HF would if fed the same chunks. The frequencies of every length
// the model allows are tabulated at load (row k: seq_len = max_position_embeddings + k), and the
// rotary op picks each token's row from its sequence's length on the device — same code on the CPU
// and the GPU, and CUDA-graph safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/workspace.h"
#include "layers/forward_batch.h"

namespace kiln::layers {

// HF's standardized rope_parameters (transformers 5.x), the fields the supported types read.
struct RopeConfig {
  std::string type = "default";  // default | linear | dynamic | llama3 | yarn
  double theta = 10000.0;        // rope_theta
  int dim = 0;                   // rotated dims per head (even)
  int64_t max_position_embeddings = 0;
  double factor = 1.0;                    // linear, dynamic, llama3, yarn
  int64_t original_max_position_embeddings = 0;  // llama3, yarn
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  std::optional<double> attention_factor, mscale, mscale_all_dim, beta_fast, beta_slow;  // yarn
  bool truncate = true;                                                                // yarn
};

// inv_freq [dim / 2], bit-for-bit HF's fp32 arithmetic up to libm vs SLEEF pow (≤ 1-2 ulp).
// seq_len > max_position_embeddings only matters for "dynamic" (HF's growth recomputation).
std::vector<float> rope_inv_freq(const RopeConfig& r, int64_t seq_len = 0);
// HF's attention_scaling (cos and sin are multiplied by it): yarn's attention factor, else 1.
float rope_attention_scaling(const RopeConfig& r);

struct RotaryEmbedding {
  RopeConfig config;
  Tensor inv_freq;  // [dim / 2] float32 on the model's device (the seq_len-independent set)
  // dynamic with factor > 1: [max_len - max_position_embeddings + 1, dim / 2] float32, row k for
  // seq_len = max_position_embeddings + k (row 0: the base set).
  Tensor inv_freq_table;
  float attention_scaling = 1.f;
  bool interleaved = false;  // GPT-J pairing; LLaMA (HF rotate_half) is false

  // Host computation of inv_freq (and the dynamic table up to max_len positions) and
  // attention_scaling, moved to alloc's device.
  static std::shared_ptr<RotaryEmbedding> create(const RopeConfig& config, Allocator* alloc,
                                                 int64_t max_len = 0);

  // Rotates the first rotary dims of the first num_heads heads (queries then keys) of every row of
  // qkv [n, row_width] in place, by batch.positions.
  void apply(Tensor& qkv, int num_heads, int head_dim, const ForwardBatch& batch, Workspace& ws,
             ExecContext& ctx) const;
  // Workspace bytes apply may take for a step of max_num_tokens tokens.
  int64_t workspace_bytes() const { return 0; }
};

}  // namespace kiln::layers
