// Generator: the step loop for a fixed set of prompts (the CLI's `run`). Each step packs decode
// tokens first, then prefill chunks up to max_num_tokens (chunked prefill), runs one forward, and
// samples. Admission reserves every block a sequence can need (prompt + max_new_tokens), so a
// running sequence never runs out of KV; sequences that do not fit wait for others to finish.
// (The in-flight executor with preemption and beams builds on the same pieces.)
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "core/exec_context.h"
#include "models/model.h"
#include "ops/graph.h"
#include "runtime/device_step.h"
#include "runtime/kv_cache/kv_cache.h"
#include "runtime/sampling/sampling_params.h"

namespace kiln::runtime {

struct GeneratorOptions {
  int64_t max_batch_size = 64;    // sequences in one step
  int64_t max_num_tokens = 2048;  // tokens in one step (prefill chunks + decode)
  int block_size = 16;            // tokens per KV block
  int64_t num_blocks = 0;         // 0: enough for every request at once
  bool cuda_graphs = true;        // replay decode steps as CUDA graphs (per batch-size bucket)
};

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams params;
};

struct GenerationResult {
  std::vector<int32_t> output_ids;  // generated tokens only, including the end token if it stopped
  std::string finish_reason;        // "stop" or "length"
};

struct GenerationStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t prefill_steps = 0;
  int64_t decode_steps = 0;
  double prefill_seconds = 0;  // steps that ran any prompt tokens
  double decode_seconds = 0;   // steps that ran only decode tokens
  double first_token_seconds = 0;  // from generate() to the first sampled token
};

class Generator {
 public:
  Generator(models::Model& model, const GeneratorOptions& options, ExecContext& ctx);
  ~Generator();
  // Validates every request first (ids in vocabulary, non-empty, fits n_positions); throws
  // kiln::Error before any work when one is bad.
  std::vector<GenerationResult> generate(const std::vector<GenerationRequest>& requests,
                                         GenerationStats* stats = nullptr);

 private:
  // The KV cache (and what is tied to its addresses: device staging, captured graphs) persists
  // across generate() calls and is rebuilt only when a call needs more blocks.
  void ensure_cache(int64_t num_blocks);
  // Decode step through a captured graph of its batch-size bucket; returns the logits.
  Tensor decode_with_graph(std::vector<struct ScheduledChunk>& chunks);

  models::Model& model_;
  GeneratorOptions options_;
  ExecContext& ctx_;
  int64_t table_width_ = 0;              // block-table columns on the device
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<DeviceStep> device_step_;
  int32_t scratch_block_ = -1;           // KV block that padding rows of a graph bucket write
  std::map<int64_t, ops::StepGraph> graphs_;  // bucket -> graph
  std::map<int64_t, Tensor> graph_logits_;    // bucket -> logits buffer the graph writes
};

}  // namespace kiln::runtime
