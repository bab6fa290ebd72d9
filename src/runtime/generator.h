// Generator: a fixed set of prompts run to completion (the CLI's `run`, `kiln bench`, parity
// tests) on top of the in-flight Executor. The executor (and its KV cache, staging and CUDA graphs)
// persists across generate() calls and is rebuilt only when a call needs more blocks; by default
// the cache holds every request's worst case at once, so nothing is preempted.
#pragma once

#include <memory>
#include <vector>

#include "core/exec_context.h"
#include "models/model.h"
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
  // Decoder-only models: the prompt. Encoder–decoder models: the encoder input; the decoder
  // starts from decoder_prompt, or from [decoder_start_token_id] when that is empty.
  std::vector<int32_t> prompt;
  SamplingParams params;
  std::vector<int32_t> decoder_prompt;
};

struct GenerationResult {
  std::vector<int32_t> output_ids;  // generated tokens only, including the end token if it stopped
  std::string finish_reason;        // "stop" or "length"
  // Every returned sequence (n > 1, beams: num_return_sequences, best first); output_ids and
  // finish_reason above are the first one.
  std::vector<std::vector<int32_t>> sequences;
  std::vector<std::string> finish_reasons;
  std::vector<double> scores;  // beam search scores (HF sequences_scores)
};

struct GenerationStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t prefill_steps = 0;
  int64_t decode_steps = 0;
  double prefill_seconds = 0;       // steps that ran any prompt tokens
  double decode_seconds = 0;        // steps that ran only decode tokens
  double decode_graph_seconds = 0;  // device time of the decode steps replayed as CUDA graphs
  int64_t decode_graph_steps = 0;
  double decode_host_seconds = 0;  // ExecutorStats::decode_host_seconds (GPU idle, host busy)
  int64_t decode_host_steps = 0;
  // From generate() to the end of the first step that sampled a token (beam search included,
  // whose tokens only come out when a request finishes).
  double first_token_seconds = 0;
};

class Executor;

class Generator {
 public:
  Generator(models::Model& model, const GeneratorOptions& options, ExecContext& ctx);
  ~Generator();
  // Validates every request first (ids in vocabulary, non-empty, fits n_positions); throws
  // kiln::Error before any work when one is bad.
  std::vector<GenerationResult> generate(const std::vector<GenerationRequest>& requests,
                                         GenerationStats* stats = nullptr);

 private:
  models::Model& model_;
  GeneratorOptions options_;
  ExecContext& ctx_;
  int64_t num_blocks_ = 0;
  std::unique_ptr<Executor> executor_;
};

}  // namespace kiln::runtime
