// T5 (Raffel et al. 2020), T5 v1.1 / Flan-T5, mT5 and UMT5: an encoder and a decoder of pre-norm
// blocks (T5LayerNorm = RMSNorm without mean subtraction) with unscaled attention (scale 1) and a
// relative position bias added to the self-attention scores, a ReLU or gated FFN, and a final
// norm per stack. encode() runs the encoder over the packed inputs and writes every decoder
// layer's cross-attention K/V; forward() runs the decoder (causal self-attention with the causal
// bias, cross-attention over those K/V) and the LM head, after the d_model^-0.5 rescale where
// the config asks for it (folded into a scaled copy of the decoder's final norm weight).
// Relative bias: HF's _relative_position_bucket is evaluated on the host in float32 with HF's
// order of operations for every distance in [-R, R] (R = relative_attention_max_distance, beyond
// which the bucket is constant) and the per-head values are uploaded as fp32 tables
// [heads, 2R + 1] indexed by key - query position (layers::SelfAttention::position_bias). T5/mT5
// share block 0's table within a stack; UMT5 has one per block.
#pragma once

#include <memory>
#include <vector>

#include "core/workspace.h"
#include "layers/attention.h"
#include "layers/gated_mlp.h"
#include "layers/mlp.h"
#include "layers/rms_norm.h"
#include "models/model.h"
#include "models/registry.h"
#include "models/t5/config.h"
#include "models/t5/weights.h"

namespace kiln::models::t5 {

class T5Model final : public Model {
 public:
  // weights: fp32 host tensors (tied ones sharing `shared`, as storage says); moved to
  // options.device in options.dtype (CPU: fp32).
  T5Model(const T5Config& config, T5Weights weights, const T5Storage& storage,
          const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const T5Config& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  void encode(const layers::EncoderBatch& batch, layers::KvCacheView& kv,
              ExecContext& ctx) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

 private:
  struct Ffn {
    bool gated = false;
    layers::GatedMlp gated_mlp;  // wi = wi_0 | wi_1, wo
    layers::Mlp mlp;             // wi, wo
    void forward(const Tensor& x, Tensor& y, Workspace& ws, ExecContext& ctx) const {
      if (gated)
        gated_mlp.forward(x, y, ws, ctx);
      else
        mlp.forward(x, y, ws, ctx);
    }
  };
  struct Block {
    layers::RmsNorm attn_norm;
    layers::SelfAttention attn;    // scale 1, position_bias = the stack's (or the block's) table
    layers::RmsNorm cross_norm;    // decoder only
    layers::CrossAttention cross;  // decoder only
    layers::RmsNorm ff_norm;
    Ffn ff;
  };
  Block make_block(const T5LayerWeights& w, const Tensor& bias, bool decoder) const;

  T5Config config_;
  T5Storage storage_;
  mutable T5Weights weights_;  // on spec_.device in spec_.dtype
  ModelSpec spec_;
  Allocator* allocator_;
  std::vector<Tensor> enc_bias_;  // per encoder block: [heads, 2R + 1] fp32 on the device
  std::vector<Tensor> dec_bias_;  // per decoder block: [heads, 2R + 1] fp32 on the device
  Tensor dec_final_scaled_;       // [d_model]: decoder final norm weight x d_model^-0.5, or
                                  // the weight itself when the config does not rescale
  std::vector<Block> encoder_, decoder_;
  layers::RmsNorm enc_final_norm_, dec_final_norm_;
  int64_t max_num_tokens_ = 0;      // reserved step size (tokens)
  int64_t max_scratch_tokens_ = 0;  // encoder scratch pool capacity (tokens) reserved
  Workspace ws_;
};

// HF's T5Attention._relative_position_bucket for one relative position (key - query), in
// float32 with HF's order of operations (torch CPU semantics).
int64_t relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                 int64_t max_distance);
// The bias table of one self-attention: table [heads, 2R + 1] fp32 host, R = max_distance,
// table[h, r + R] = rel_bias[bucket(r), h]. rel_bias: [num_buckets, heads] fp32 host.
Tensor relative_bias_table(const Tensor& rel_bias, bool bidirectional, int64_t max_distance);

// Registry entry (t5, mt5, umt5): HF folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (HF config field names; model_type t5/mt5/umt5; the
// CLI's n_layer / n_embd / n_head / n_inner stand in for num_layers / d_model / num_heads / d_ff):
// `kiln build` / `kiln bench` without a checkpoint. tie_word_embeddings = false gives an LM head
// of its own.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::t5
