// BART / mBART / Marian weights and the one name map between kiln's names, Hugging Face's names
// and the struct. HF keeps q/k/v (and cross-attention k/v) apart; kiln fuses self-attention into
// one [3d, d] qkv and cross-attention k|v into one [2d, d] kv (DESIGN §4), so a HF folder is read
// through the split map and fused once (fuse_attention). All linears are nn.Linear ([out, in]).
// Tied tables are one tensor and listed once: with tie_word_embeddings HF ties `shared`, both
// stacks' embed_tokens (Marian: only with share_encoder_decoder_embeddings) and lm_head; a HF
// checkpoint may store any one of the tied names, so hf_weight_map resolves them against it.
// Learned position tables keep HF's two leading rows ([max_position_embeddings + 2, d]); Marian's
// sinusoidal table is computed (sinusoidal_positions), never loaded or saved.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "models/bart/config.h"
#include "models/weight_map.h"

namespace kiln::models::bart {

using models::WeightEntry;

struct BartLayerWeights {
  Tensor attn_ln_w, attn_ln_b;      // [d] self_attn_layer_norm
  Tensor qkv_w;                     // [3d, d]: q | k | v
  Tensor qkv_b;                     // [3d]
  Tensor out_w, out_b;              // [d, d], [d] self_attn.out_proj
  Tensor cross_ln_w, cross_ln_b;    // [d] encoder_attn_layer_norm (decoder only)
  Tensor cross_q_w, cross_q_b;      // [d, d], [d] encoder_attn.q_proj (decoder only)
  Tensor cross_kv_w;                // [2d, d]: k | v of encoder_attn (decoder only)
  Tensor cross_kv_b;                // [2d]
  Tensor cross_out_w, cross_out_b;  // [d, d], [d] encoder_attn.out_proj (decoder only)
  Tensor ffn_ln_w, ffn_ln_b;        // [d] final_layer_norm of the layer
  Tensor fc1_w, fc1_b;              // [ffn_dim, d], [ffn_dim]
  Tensor fc2_w, fc2_b;              // [d, ffn_dim], [d]
  // HF loading only, fused into qkv / cross_kv: [d, d] weights, [d] biases.
  Tensor q_w, q_b, k_w, k_b, v_w, v_b, cross_k_w, cross_k_b, cross_v_w, cross_v_b;
};

struct BartStackWeights {
  Tensor embed_positions;     // [max positions + offset, d] (BART, mBART, fairseq learned)
  Tensor emb_ln_w, emb_ln_b;  // [d] layernorm_embedding (BART, mBART)
  std::vector<BartLayerWeights> layers;
  Tensor final_ln_w, final_ln_b;  // [d] layer_norm after the stack (mBART, fairseq pre-LN)
};

struct BartWeights {
  Tensor encoder_embed;      // [vocab_size, encoder d] (`shared` when the stacks share it)
  Tensor decoder_embed;      // [target vocab, d]; encoder_embed's storage when tied
  Tensor lm_head;            // [target vocab, d]; decoder_embed's storage when tied
  Tensor final_logits_bias;  // [1, target vocab] (HF's buffer shape; zeros when absent; none
                             // for fairseq)
  BartStackWeights encoder, decoder;
};

// Every weight of the model in kiln naming (split_qkv: HF's separate projections instead of the
// fused ones). HF names are "model."-less (BartModel's); hf_weight_map resolves them.
std::vector<WeightEntry> weight_map(const BartConfig& c, BartWeights& w, bool split_qkv);

// The split map with HF names as stored in ckpt: the wrapper prefix ("model." or none), each tied
// table under whichever of its names the checkpoint holds; final_logits_bias left out (and set to
// zeros) when the checkpoint has none, as HF does. Missing tables are a clear error.
std::vector<WeightEntry> hf_weight_map(const BartConfig& c, BartWeights& w,
                                       const io::Checkpoint& ckpt);

// Concatenates the split q/k/v (and cross k/v) of every layer and releases them.
void fuse_attention(BartWeights& w);

// Points the tied tables at their source (decoder_embed at encoder_embed, lm_head at
// decoder_embed) after the source was loaded or moved.
void tie_tables(const BartConfig& c, BartWeights& w);

// MarianSinusoidalPositionalEmbedding.create_weight: fp32 [num_positions, dim] with
// sin(p / 10000^(2i / dim)) in columns [0, ceil(dim / 2)) and cos in the rest, computed in double
// as HF's numpy does and rounded once.
Tensor sinusoidal_positions(int64_t num_positions, int64_t dim);

// fairseq's SinusoidalPositionalEmbedding.get_embedding rows offset .. offset + num_positions - 1
// (fairseq numbers positions from padding_idx + 1): fp32 [num_positions, dim], half = dim / 2,
// sin(n * exp(i * -log(10000) / (half - 1))) in columns [0, half), cos in [half, 2 half), a zero
// column for odd dim; computed in fp32 as torch does.
Tensor fairseq_sinusoidal_positions(int64_t num_positions, int64_t dim, int64_t offset);

}  // namespace kiln::models::bart
