// Model: the interface every family implements. A model owns its weights and its workspace and
// turns one packed ForwardBatch into logits for the requested rows. It knows nothing of requests,
// scheduling or sampling (those are the runtime's).
#pragma once

#include <cstdint>
#include <string>

#include "core/exec_context.h"
#include "core/tensor.h"
#include "layers/forward_batch.h"

namespace kiln::models {

// What the runtime needs to know to size the KV cache and validate requests.
struct ModelSpec {
  std::string model_type;
  int num_layers = 0;
  int num_heads = 0;     // query heads
  int num_kv_heads = 0;
  int head_dim = 0;
  int64_t vocab_size = 0;     // ids accepted as input and produced as logits
  int64_t max_positions = 0;  // longest sequence (prompt + generated) the model can encode
  DType dtype = DType::kFloat32;  // activations and KV cache
  Device device = Device::cpu();
  int64_t weight_bytes = 0;       // bytes of weights read per forward (roofline accounting)
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelSpec& spec() const = 0;
  // Sizes the workspace for steps of up to max_num_tokens tokens and max_logit_rows logit rows.
  virtual void reserve(int64_t max_num_tokens, int64_t max_logit_rows) = 0;
  // Returns fp32 logits [batch.logit_rows.size(0), vocab_size], valid until the next call.
  virtual Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                         ExecContext& ctx) = 0;
  // Writes a kiln checkpoint folder (config.json + model.safetensors) with weights in `dtype`
  // (models on the CPU only: the CPU copy holds the fp32 weights).
  virtual void save(const std::string& dir, DType dtype) const = 0;
};

}  // namespace kiln::models
