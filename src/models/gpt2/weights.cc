#include "models/gpt2/weights.h"

namespace kiln::models::gpt2 {

std::vector<WeightEntry> weight_map(const Gpt2Config& c, Gpt2Weights& w,
                                    const std::string& hf_prefix) {
  return gpt_weight_map({.vocab_size = c.vocab_size,
                         .n_positions = c.n_positions,
                         .n_embd = c.n_embd,
                         .n_layer = c.n_layer,
                         .inner = c.inner(),
                         .qkv_rows = 3 * c.n_embd,
                         .tie_word_embeddings = c.tie_word_embeddings,
                         .hf_transposed = true},  // Conv1D
                        w, hf_prefix);
}

}  // namespace kiln::models::gpt2
