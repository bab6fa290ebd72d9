// StepRunner: runs one scheduled step on the model's device. It owns the KV cache and what is tied
// to its addresses: the device staging of step metadata (one copy up, ids down) and, on CUDA, the
// decode-step graphs per batch-size bucket (powers of two up to max_batch_size; padding rows are
// one-token sequences in a reserved scratch block) and key bound (powers of two from
// kMinKeyBound above the longest context, capped by the block table). It knows nothing of requests
// or policies.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/exec_context.h"
#include "models/model.h"
#include "ops/graph.h"
#include "runtime/batch_builder.h"
#include "runtime/device_step.h"
#include "runtime/kv_cache/block_manager.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln::runtime {

struct StepRunnerOptions {
  int64_t max_batch_size = 64;    // sequences (logit rows) in one step
  int64_t max_num_tokens = 2048;  // tokens in one step
  int block_size = 16;
  int64_t num_blocks = 0;  // usable KV blocks (the graphs' scratch block is extra)
  bool cuda_graphs = true;
};

// The smallest key bound of a decode graph: the longest context rounded up to a power of two from
// here (a graph per bound: few bounds, few captures).
constexpr int64_t kMinKeyBound = 256;

// The key bound a decode graph is captured for: the smallest power of two >= kMinKeyBound that
// holds max_kv_len, capped by the block table's capacity (>= max_kv_len).
int64_t decode_key_bound(int64_t max_kv_len, int64_t capacity);

class StepRunner {
 public:
  StepRunner(models::Model& model, const StepRunnerOptions& options, ExecContext& ctx);
  ~StepRunner();

  KvCache& cache() { return *cache_; }
  bool on_device() const { return device_step_ != nullptr; }
  int64_t table_width() const { return table_width_; }
  int32_t reserved_blocks() const { return scratch_block_ >= 0 ? 1 : 0; }  // taken for good

  // Copies whole KV blocks (every layer, K and V) src -> dst, before the forward that writes them.
  void copy_blocks(const std::vector<BlockCopy>& copies);
  // One forward over the chunks; returns fp32 logits [rows wanting logits, vocab] on the model's
  // device, valid until the next call. decode_only steps replay a CUDA graph where possible.
  // Encoder–decoder sequences whose cross-attention K/V are missing run the encoder first.
  Tensor forward(std::vector<ScheduledChunk>& chunks, bool decode_only);
  // GPU sampling of every row (seqs[i] owns row i); ids come back to the host.
  std::vector<int32_t> sample_on_device(Tensor& logits, const std::vector<const Sequence*>& seqs);
  // Beam-search candidates of some logits rows on the device (DeviceStep::beam_candidates): only
  // [rows, k] log-probs and tokens come back to pinned host memory.
  DeviceStep::BeamCandidates beam_candidates_on_device(const Tensor& logits,
                                                       const std::vector<int32_t>& rows,
                                                       const std::vector<int32_t>& mask_ids,
                                                       int64_t mask_width, int64_t k);
  // The logits on the host (a copy from the GPU; the tensor itself on the CPU).
  Tensor logits_on_host(const Tensor& logits);
  // Device time of the decode-graph replays since the last call (seconds) and their number.
  std::pair<double, int64_t> take_graph_time();

 private:
  Tensor decode_with_graph(std::vector<ScheduledChunk>& chunks);
  void encode(const std::vector<ScheduledChunk>& chunks);

  models::Model& model_;
  StepRunnerOptions options_;
  ExecContext& ctx_;
  int64_t table_width_ = 0;
  int64_t cross_table_width_ = 0;  // enc-dec: cross-attention block-table width
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<DeviceStep> device_step_;
  int32_t scratch_block_ = -1;
  struct DecodeGraph {
    ops::StepGraph graph;
    Tensor logits;  // the buffer the graph writes
  };
  std::map<std::pair<int64_t, int64_t>, DecodeGraph> graphs_;  // (batch bucket, key bound)
  Tensor host_logits_;        // pinned [max_batch_size, vocab] fp32
  Tensor pool_addresses_;     // [2 * layers] int64: K and V pool bases, on the model's device
  int64_t block_bytes_ = 0;   // bytes of one block in one pool
  Tensor copy_pairs_host_;    // [num_blocks, 2] int32 (src, dst) staging (pinned on CUDA)
  Tensor copy_pairs_device_;  // [num_blocks, 2] int32 on the device (CUDA)
};

}  // namespace kiln::runtime
