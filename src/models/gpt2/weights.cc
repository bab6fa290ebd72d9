#include "models/gpt2/weights.h"

namespace kiln::models::gpt2 {

std::vector<WeightEntry> weight_map(const Gpt2Config& c, Gpt2Weights& w,
                                    const std::string& hf_prefix) {
  return gpt_weight_map(gpt_shape(c, c.kv_heads(), /*hf_transposed=*/true), w,  // Conv1D
                        hf_prefix);
}

}  // namespace kiln::models::gpt2
