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
  // Encoder–decoder models: num_layers/heads above describe the decoder (its self- and
  // cross-attention K/V share one pool per decoder layer); the encoder takes at most
  // max_encoder_positions tokens; a decoder starts from decoder_start_token_id.
  bool encoder_decoder = false;
  int64_t max_encoder_positions = 0;
  int64_t encoder_vocab_size = 0;  // ids the encoder accepts (0: vocab_size; Marian may differ)
  int64_t encoder_weight_bytes = 0;  // encoder weights (weight_bytes counts the decoder's)
  int encoder_layers = 0, encoder_heads = 0, encoder_head_dim = 0;  // FLOP accounting
  int32_t decoder_start_token_id = -1;
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
  // Encoder–decoder models: runs the encoder over the packed encoder inputs and writes every
  // decoder layer's cross-attention K/V at batch.cross_slots of kv. Sized by reserve() too
  // (batch.num_tokens() <= max_num_tokens, scratch_blocks <= max_num_tokens / block_size +
  // max_logit_rows + 1).
  virtual void encode(const layers::EncoderBatch& batch, layers::KvCacheView& kv, ExecContext& ctx);
  // Writes a kiln checkpoint folder (config.json + model.safetensors) with weights in `dtype`
  // (models on the CPU only: the CPU copy holds the fp32 weights).
  virtual void save(const std::string& dir, DType dtype) const = 0;
};

}  // namespace kiln::models
