// kiln public C++ API. An Engine owns one model, its KV cache and a background thread running the
// in-flight-batching step loop. Requests arrive and leave at any step:
//
//   auto engine = kiln::Engine::create({.model_dir = "gpt2"});
//   auto stream = engine->enqueue({.prompt_ids = engine->encode("Hello")});
//   while (auto update = stream->next()) { ...; if (update->finished) break; }
//
// enqueue() validates the request (ids in vocabulary, lengths, sampling ranges) and throws
// kiln::RequestError before it is queued; kiln::QueueFullError when max_queue_size requests are
// already waiting; kiln::EngineStoppedError after shutdown() or a failed step (all three
// std::runtime_error).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kiln/request.h"

namespace kiln {

class RequestError : public std::runtime_error {  // bad request: HTTP 400
 public:
  using std::runtime_error::runtime_error;
};
class QueueFullError : public std::runtime_error {  // overloaded: HTTP 429
 public:
  using std::runtime_error::runtime_error;
};
class EngineStoppedError : public std::runtime_error {  // shutting down or failed: HTTP 503
 public:
  using std::runtime_error::runtime_error;
};

struct EngineOptions {
  std::string model_dir;       // HF folder or kiln checkpoint (engine) folder
  std::string tokenizer_dir;   // default: model_dir
  std::string device = "cpu";  // cpu | cuda | cuda:N
  std::string dtype = "float16";    // GPU compute dtype (the CPU computes in fp32)
  double gpu_memory_fraction = 0.9;  // of the free memory, when max_gpu_memory_gib is 0
  double max_gpu_memory_gib = 0;     // the one explicit GPU memory cap
  int64_t max_batch_size = 64;       // sequences per step
  int64_t max_num_tokens = 2048;     // tokens per step (long prompts are chunked)
  int tokens_per_block = 16;         // KV block size
  int64_t num_kv_blocks = 0;         // 0: what the memory allows (GPU) / max_batch_size full
                                     // sequences (CPU)
  bool enable_prefix_caching = false;  // reuse KV blocks of identical prompt prefixes
  int64_t max_queue_size = 1024;     // waiting requests beyond this: QueueFullError
  bool cuda_graphs = true;
};

struct Histogram {
  std::vector<double> bounds;    // upper bounds (seconds), ascending; +Inf implied
  std::vector<uint64_t> counts;  // [bounds.size() + 1], not cumulative
  double sum = 0;
  uint64_t count = 0;
};

struct EngineStats {
  int64_t queued = 0;             // requests waiting for admission (incl. preempted)
  int64_t running = 0;            // requests with KV blocks
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;
  int64_t requests_finished = 0;
  int64_t requests_cancelled = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  double generation_tokens_per_s = 0;  // over the last few seconds
  Histogram time_to_first_token;       // seconds, enqueue -> first token
  Histogram inter_token_latency;       // seconds between a sequence's tokens
};

struct ModelInfo {
  std::string name;          // the model folder's name
  std::string model_type;    // HF model_type
  int64_t vocab_size = 0;
  int64_t max_positions = 0;  // decoder positions (prompt + generated for decoder-only models)
  bool encoder_decoder = false;       // the prompt is an encoder input
  int64_t max_encoder_positions = 0;  // encoder–decoder: longest encoder input
  std::string device;        // e.g. "NVIDIA H200" or "CPU (2 cores)"
  std::vector<int32_t> eos_token_ids;
};

class RequestStream {
 public:
  virtual ~RequestStream() = default;
  virtual int64_t id() const = 0;
  // Next update; blocks up to timeout. nullopt on timeout, or after the final update was read.
  virtual std::optional<RequestUpdate> next(
      std::chrono::milliseconds timeout = std::chrono::milliseconds::max()) = 0;
  virtual bool finished() const = 0;  // the final update has been read
  // Stops generation and frees the request's KV blocks (within one step). Idempotent.
  virtual void cancel() = 0;
};

class Engine {
 public:
  static std::unique_ptr<Engine> create(const EngineOptions& options);
  virtual ~Engine() = default;

  virtual std::shared_ptr<RequestStream> enqueue(const Request& request) = 0;
  virtual void cancel(int64_t request_id) = 0;

  virtual bool has_tokenizer() const = 0;
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const = 0;

  virtual ModelInfo info() const = 0;
  virtual EngineStats stats() const = 0;
  // Finishes every request with finish_reason "cancelled" and stops the step thread.
  virtual void shutdown() = 0;
};

}  // namespace kiln
