// T5 family weights and the one name map between kiln's names, Hugging Face's names and the
// struct. kiln fuses self-attention q|k|v into one [3 * inner, d_model] projection, cross-attention
// k|v into one [2 * inner, d_model] projection and the gated FFN's wi_0|wi_1 into one
// [2 * d_ff, d_model] projection; a kiln checkpoint stores the fused tensors, loading a HF folder
// concatenates HF's rows (each fused entry lists its HF parts).
// Tying follows transformers 5.24, which loads whatever the checkpoint stores: the encoder's and
// the decoder's embed_tokens and the LM head are the shared embedding unless the checkpoint has
// tensors of their own under those names (T5Storage); the kiln checkpoint stores exactly those.
// Relative attention bias tables ([num_buckets, heads]) exist in block 0 of each stack (T5, mT5)
// or in every block (UMT5); HF's unused decoder.block.0.layer.1.EncDecAttention.
// relative_attention_bias.weight is ignored, as HF ignores it.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "models/t5/config.h"
#include "models/weight_map.h"

namespace kiln::models::t5 {

struct T5LayerWeights {
  Tensor attn_norm;   // [d_model] (layer.0.layer_norm)
  Tensor qkv;         // [3 * inner, d_model]: q | k | v rows
  Tensor attn_out;    // [d_model, inner]
  Tensor rel_bias;    // [num_buckets, heads] (block 0, or every block in UMT5), else undefined
  Tensor cross_norm;  // [d_model] (decoder only: layer.1.layer_norm)
  Tensor cross_q;     // [inner, d_model] (decoder only)
  Tensor cross_kv;    // [2 * inner, d_model]: k | v rows (decoder only)
  Tensor cross_out;   // [d_model, inner] (decoder only)
  Tensor ff_norm;     // [d_model]
  Tensor wi;          // [d_ff, d_model], gated: [2 * d_ff, d_model] = wi_0 | wi_1 rows
  Tensor wo;          // [d_model, d_ff]
};

struct T5Weights {
  Tensor shared;                        // [vocab, d_model]
  Tensor enc_embed;                     // [vocab, d_model]; shares `shared` unless stored apart
  Tensor dec_embed;                     // [vocab, d_model]; shares `shared` unless stored apart
  Tensor lm_head;                       // [vocab, d_model]; shares `shared` unless stored apart
  std::vector<T5LayerWeights> encoder;  // [num_layers]
  std::vector<T5LayerWeights> decoder;  // [num_decoder_layers]
  Tensor enc_final_norm;                // [d_model]
  Tensor dec_final_norm;                // [d_model]
};

// Which of the tied tensors a checkpoint stores apart from `shared`.
struct T5Storage {
  bool enc_embed = false;
  bool dec_embed = false;
  bool lm_head = false;
};

// One kiln weight and the HF tensors (rows concatenated in order) it is made of.
struct T5FusedEntry {
  WeightEntry entry;                  // kiln name, destination, fused shape
  std::vector<std::string> hf_parts;  // full HF names
  std::vector<int64_t> part_rows;     // rows each part contributes
};

// Every weight of the config. hf_prefix goes before every HF name but lm_head.weight ("" for
// T5ForConditionalGeneration files).
std::vector<T5FusedEntry> fused_map(const T5Config& c, const T5Storage& s, T5Weights& w,
                                    const std::string& hf_prefix);
// The kiln view of fused_map (kiln checkpoint load/save, device moves, random weights).
std::vector<WeightEntry> weight_map(const T5Config& c, const T5Storage& s, T5Weights& w);
// What a HF folder (with its prefix) or a kiln checkpoint stores apart from `shared`.
T5Storage hf_storage(const io::Checkpoint& ckpt, const std::string& hf_prefix);
T5Storage kiln_storage(const io::Checkpoint& ckpt);
// The HF prefix of a folder: "" (T5ForConditionalGeneration), "transformer." or "model.".
std::string find_t5_prefix(const io::Checkpoint& ckpt);
// Loads a HF folder's tensors, fusing the parts; `shared` falls back to encoder.embed_tokens or
// decoder.embed_tokens when the folder has no shared.weight (HF ties in that direction too).
void load_hf_weights(const io::Checkpoint& ckpt, const T5Config& c, const T5Storage& s,
                     T5Weights& w, const std::string& hf_prefix);
// Points the tensors not stored apart at `shared` (after loading, and after a device move).
void tie_weights(const T5Storage& s, T5Weights& w);

}  // namespace kiln::models::t5
