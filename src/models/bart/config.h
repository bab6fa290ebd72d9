// BART / mBART / Marian config: one typed config for the three HF encoder–decoder families that
// share BartAttention-style layers, parsed per family with that family's HF class defaults
// (BartConfig, MBartConfig, MarianConfig in transformers 5.24). Dropout, layerdrop, init and
// classifier fields are training-only. LayerNorms use PyTorch's eps (1e-5): none of the three has
// an eps field. The family decides what the config cannot say: mBART is pre-LN with a final
// LayerNorm after each stack, BART and Marian are post-LN; BART and mBART have learned positions
// (offset 2) and layernorm_embedding, Marian a fixed sinusoidal table and neither.
//
// `fairseq` (kiln checkpoints only, written by tools/convert_fairseq.py from a fairseq
// `--arch transformer*` .pt) names every such choice in its config instead: per-stack
// normalize_before and final layer_norm, layernorm_embedding, position_embedding_type (learned,
// fairseq's sinusoidal variant, or none) at row p + pad + 1, separate encoder / decoder widths
// (encoder_d_model; cross-attention k|v project encoder_d_model -> d_model), separate source and
// target vocabularies and max positions, no final_logits_bias.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"

namespace kiln::models::bart {

enum class Family { kBart, kMbart, kMarian, kFairseq };

// How a stack adds positions: BART's learned table, Marian's sinusoidal table, fairseq's
// SinusoidalPositionalEmbedding, or none (fairseq's no_token_positional_embeddings).
enum class Positions { kLearned, kMarianSinusoidal, kFairseqSinusoidal, kNone };

struct BartConfig {
  Family family = Family::kBart;
  int64_t vocab_size = 50265;  // encoder (and shared) vocabulary
  // Marian only (HF: decoder_vocab_size or vocab_size): the decoder's embedding rows.
  int64_t decoder_vocab_size = 50265;
  int64_t max_position_embeddings = 1024;
  int64_t d_model = 1024;               // the decoder's width (and the encoder's but for fairseq)
  int64_t encoder_d_model = 1024;       // fairseq: encoder_embed_dim; else d_model
  int64_t max_source_positions = 1024;  // fairseq; else max_position_embeddings
  int64_t encoder_layers = 12;
  int64_t decoder_layers = 12;
  int64_t encoder_attention_heads = 16;
  int64_t decoder_attention_heads = 16;
  int64_t encoder_ffn_dim = 4096;
  int64_t decoder_ffn_dim = 4096;
  std::string activation_function = "gelu";
  bool scale_embedding = false;  // token embeddings times sqrt(d_model)
  bool tie_word_embeddings = true;
  bool share_encoder_decoder_embeddings = true;  // Marian, fairseq (BART/mBART always share)
  // fairseq only (the other families derive them from the family): pre-LN per stack, a final
  // LayerNorm after each stack, layernorm_embedding, the position scheme.
  bool encoder_normalize_before = false, decoder_normalize_before = false;
  bool encoder_final_layer_norm = false, decoder_final_layer_norm = false;
  bool fairseq_layernorm_embedding = false;
  Positions fairseq_positions = Positions::kFairseqSinusoidal;
  // Token ids (-1: HF None). Generation reads them; the forward does not.
  int64_t pad_token_id = 1;
  int64_t bos_token_id = 0;
  std::vector<int64_t> eos_token_id = {2};
  int64_t decoder_start_token_id = 2;
  int64_t forced_bos_token_id = -1;
  std::vector<int64_t> forced_eos_token_id = {2};

  static constexpr float kLayerNormEps = 1e-5f;
  static constexpr int64_t kPositionOffset = 2;  // BartLearnedPositionalEmbedding.offset

  const char* model_type() const;
  bool fairseq() const { return family == Family::kFairseq; }
  // Pre-LN sublayers of a stack; its final layer_norm after the last layer.
  bool pre_ln(bool decoder) const;
  bool final_layer_norm(bool decoder) const;
  Positions positions() const;
  bool learned_positions() const { return positions() == Positions::kLearned; }
  bool layernorm_embedding() const;
  // Table row of position p is p + position_offset() (BART: 2; fairseq: pad + 1).
  int64_t position_offset() const { return fairseq() ? pad_token_id + 1 : kPositionOffset; }
  int64_t encoder_max_positions() const {
    return fairseq() ? max_source_positions : max_position_embeddings;
  }
  // sqrt(width) of the stack with scale_embedding, else 1.
  float embed_scale(bool decoder = true) const;
  int64_t encoder_head_dim() const { return encoder_d_model / encoder_attention_heads; }
  int64_t decoder_head_dim() const { return d_model / decoder_attention_heads; }
  // Rows of the decoder's embedding, of the LM head and of final_logits_bias (HF: Marian's
  // decoder_vocab_size without shared embeddings, else vocab_size; checked equal to each other).
  int64_t target_vocab_size() const;
  int64_t decoder_embed_rows() const;  // == target_vocab_size() (checked at parse)
  // Which tables are one tensor (HF ties them only with tie_word_embeddings): the encoder's and
  // the decoder's token embeddings (and `shared`), and the decoder's with the LM head.
  bool encoder_decoder_embeddings_tied() const;
  bool lm_head_tied() const { return tie_word_embeddings; }
  // The token a decoder starts from: decoder_start_token_id, else bos_token_id (HF generate's
  // fallback), else -1.
  int64_t decoder_start() const;

  bool has_decoder_vocab() const { return family == Family::kMarian || fairseq(); }

  // Parses and validates (positive sizes, d_model divisible by both head counts, a known
  // activation, consistent vocabularies). cfg's model_type picks the family.
  static BartConfig from_json(const io::JsonConfig& cfg);
  nlohmann::json to_json() const;  // HF-compatible field names
};

}  // namespace kiln::models::bart
