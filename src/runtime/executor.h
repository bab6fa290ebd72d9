// Executor: the in-flight-batching step loop (DESIGN §4). Requests arrive and leave at any step;
// each step the scheduler packs decode tokens and prefill chunks of many requests, the step
// runner runs one forward, then each request samples (GPU kernel for plain rows, the host
// sampler for rows needing min-p, OpenAI penalties, logprobs or a fork; beams choose their
// candidates on the GPU when only the min-length masks apply, else on the host), advances its
// beams, checks
// its stop conditions and streams out what it produced. Single-threaded: the Engine (src/api)
// owns the thread and the locking.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/exec_context.h"
#include "kiln/request.h"
#include "models/model.h"
#include "runtime/kv_cache/block_manager.h"
#include "runtime/request_state.h"
#include "runtime/sampling/beam_search.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/scheduler/scheduler.h"
#include "runtime/step_runner.h"
#include "tokenizer/tokenizer.h"

namespace kiln::runtime {

struct ExecutorOptions {
  StepRunnerOptions runner;
  bool prefix_caching = false;
  const tok::Tokenizer* tokenizer = nullptr;  // text output and stop strings (may be null)
};

struct RequestOutput {
  int64_t request_id = 0;
  std::vector<SequenceDelta> deltas;  // sequences with news this step
  bool finished = false;              // the request's last output
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;  // all of the request's sequences so far
};

struct ExecutorStats {
  int64_t steps = 0;
  int64_t prefill_steps = 0;
  int64_t decode_steps = 0;
  double prefill_seconds = 0;  // steps that ran any prompt tokens
  double decode_seconds = 0;   // steps that ran only decode tokens
  // Device time of the decode steps that replayed a CUDA graph (the forward alone: no host work,
  // uploads or sampling), and their number.
  double decode_graph_seconds = 0;
  int64_t decode_graph_steps = 0;
  // Host time on the critical path of the decode steps sampled wholly on the device (no host
  // rows, no beams): from the step's start until its forward is launched, plus from the sampled
  // ids' arrival to the step's end — the GPU is idle in both. Their number.
  double decode_host_seconds = 0;
  int64_t decode_host_steps = 0;
  int64_t sampled_rows = 0;      // logits rows sampled (greedy/sampling tokens and beam rows alike)
  int64_t prompt_tokens = 0;     // of finished requests
  int64_t generated_tokens = 0;  // of finished requests
  int64_t preemptions = 0;
  int64_t finished = 0;
  int64_t cancelled = 0;
  int64_t beam_device_steps = 0;     // beam steps from on-device candidates (ops::beam_candidates)
  int64_t beam_dense_fallbacks = 0;  // of those, redone from the dense rows (see step_sparse)
};

class Executor {
 public:
  Executor(models::Model& model, const ExecutorOptions& options, ExecContext& ctx);
  ~Executor();

  // Throws kiln::Error (nothing queued) when the request can never run: empty prompt, ids outside
  // the vocabulary, prompt + max_new_tokens beyond the model's positions, more KV blocks than the
  // whole cache, bad sampling values, stop strings without a tokenizer. Encoder–decoder models:
  // `prompt` is the encoder input; the decoder starts from decoder_prompt, or from
  // [decoder_start_token_id] (the request's, else the model's) when that is empty.
  void validate(const std::vector<int32_t>& prompt, const SamplingParams& params,
                const std::vector<int32_t>& decoder_prompt = {}) const;
  void add_request(int64_t id, std::vector<int32_t> prompt, const SamplingParams& params,
                   bool detokenize, bool skip_special_tokens,
                   const std::vector<int32_t>& decoder_prompt = {});
  void cancel(int64_t id);  // applied at the next step; unknown ids are ignored
  bool has_work() const { return !requests_.empty(); }

  std::vector<RequestOutput> step();

  int64_t num_waiting() const { return scheduler_->num_waiting(); }
  int64_t num_running() const { return scheduler_->num_running(); }
  int32_t kv_blocks_total() const { return blocks_->num_total(); }
  int32_t kv_blocks_used() const { return blocks_->num_used(); }
  const ExecutorStats& stats() const { return stats_; }
  const models::ModelSpec& spec() const { return model_.spec(); }

 private:
  std::vector<int32_t> decoder_tokens(const SamplingParams& params,
                                      const std::vector<int32_t>& decoder_prompt) const;
  void finish_request(RequestState& r, RequestOutput& o);
  void fork_samples(RequestState& r);
  // The beam search step of r over its rows' logits (host memory); touches only r.
  BeamSearch::Step beam_step(RequestState& r, const std::vector<const float*>& rows) const;
  // The same step from the device's per-row candidates [rows, k] (ops::beam_candidates); nullopt
  // when they cannot prove the dense answer (then beam_step on the host rows).
  std::optional<BeamSearch::Step> beam_step_sparse(RequestState& r, const float* logprobs,
                                                   const int32_t* tokens, int64_t k,
                                                   int num_rows) const;
  // Beam requests whose row processing the device op covers (log-softmax and the min-length /
  // min-new-tokens end-id masks): their candidates are chosen on the GPU.
  bool beam_on_device(const RequestState& r) const;
  // Forks the chosen parents' blocks for the new beams; delivers the results when done.
  void advance_beams(RequestState& r, const BeamSearch::Step& step, RequestOutput& o);
  void append_token(RequestState& r, SeqSlot& slot, int32_t token, const float* raw_row,
                    RequestOutput& o);

  models::Model& model_;
  ExecutorOptions options_;
  ExecContext& ctx_;
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  std::map<int64_t, std::unique_ptr<RequestState>> requests_;
  std::vector<int64_t> cancels_;
  int64_t next_arrival_ = 0;
  ExecutorStats stats_;
};

}  // namespace kiln::runtime
