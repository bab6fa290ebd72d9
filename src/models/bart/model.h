// BART (Lewis et al. 2019), mBART (Liu et al. 2020) and Marian NMT (Junczys-Dowmunt et al. 2018)
// as one encoder–decoder transformer, the family's flags choosing the parts (config.h): token
// embeddings times embed_scale plus positions (learned with offset 2, or Marian's sinusoidal
// table), an optional layernorm_embedding, then layers of fused-QKV self-attention (bidirectional
// in the encoder, causal in the decoder), in the decoder cross-attention over the encoder output,
// and a two-layer MLP; post-LN residual sublayers (BART, Marian) or pre-LN with a final LayerNorm
// per stack (mBART; fairseq: per stack as its config says). Logits: the LM head plus
// final_logits_bias (none for fairseq), in fp32.
//
// encode() runs the encoder over packed encoder tokens (self-attention K/V in a scratch pool of
// the workspace) and writes each decoder layer's cross-attention K/V into the KV pools at the
// sequences' cross slots; forward() runs the decoder over packed decoder tokens.
//
// Token tables are stored as HF has them (what save() writes); embed_scale is applied by keeping
// input copies pre-multiplied by it (exactly HF's lookup-then-scale in fp32). When the LM head
// shares the table this costs one more [vocab, d] table.
#pragma once

#include <memory>
#include <vector>

#include "core/workspace.h"
#include "layers/attention.h"
#include "layers/linear.h"
#include "layers/mlp.h"
#include "models/bart/config.h"
#include "models/bart/weights.h"
#include "models/model.h"
#include "models/registry.h"

namespace kiln::models::bart {

class BartModel final : public Model {
 public:
  // weights: fp32 host tensors with attention fused; moved to options.device in options.dtype.
  BartModel(const BartConfig& config, BartWeights weights, const LoadOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const BartConfig& config() const { return config_; }
  void reserve(int64_t max_num_tokens, int64_t max_logit_rows) override;
  void encode(const layers::EncoderBatch& batch, layers::KvCacheView& kv,
              ExecContext& ctx) override;
  Tensor forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                 ExecContext& ctx) override;
  void save(const std::string& dir, DType dtype) const override;

  struct Layer {
    layers::LayerNorm attn_ln;  // self_attn_layer_norm
    layers::SelfAttention attn;
    layers::LayerNorm cross_ln;    // encoder_attn_layer_norm (decoder only)
    layers::CrossAttention cross;  // encoder_attn (decoder only)
    layers::LayerNorm ffn_ln;      // final_layer_norm of the layer
    layers::Mlp mlp;
  };
  struct Stack {
    Tensor embed;              // [vocab, d] token table times embed_scale
    Tensor positions;          // [max_position_embeddings, d]: row p is position p
    layers::LayerNorm emb_ln;  // layernorm_embedding (weight undefined: none)
    std::vector<Layer> layers;
    layers::LayerNorm final_ln;  // the stack's layer_norm (weight undefined: none)
  };

 private:
  // h [n, d] = embed[ids] + positions[pos], then layernorm_embedding (through tmp [n, d]).
  void embed(const Stack& s, const Tensor& ids, const Tensor& pos, Tensor& h, Tensor& tmp,
             ExecContext& ctx) const;

  BartConfig config_;
  mutable BartWeights weights_;  // on spec_.device in spec_.dtype, as stored (unscaled)
  ModelSpec spec_;
  Allocator* allocator_;
  Stack encoder_, decoder_;
  Tensor logits_bias_;  // [1, target vocab] fp32 final_logits_bias (undefined when all zero)
  Tensor zero_ids_;     // [max_logit_rows] int32 zeros: broadcasts logits_bias_ (ops::embedding)
  int64_t max_tokens_ = 0;        // reserve()'s max_num_tokens
  int64_t scratch_capacity_ = 0;  // encoder scratch pool capacity in tokens
  Workspace ws_;
};

// Registry entry: HF BART / mBART / Marian folder or kiln checkpoint -> model.
std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options);

// Seeded random weights for an architecture (performance work: `kiln build`, `kiln bench`).
BartWeights random_weights(const BartConfig& config, uint64_t seed);

// Registry entry for random_model: HF config fields (d_model, encoder_layers, decoder_layers,
// encoder_attention_heads, ...; the GPT-2-style n_layer / n_embd / n_head / n_inner / n_positions
// fill both stacks when the HF names are absent) -> model with random weights.
std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options);

}  // namespace kiln::models::bart
