#include "models/gpt_bigcode/weights.h"

#include <cstring>

namespace kiln::models::gpt_bigcode {
namespace {

// Rows [heads, 3, head_dim] -> [3, heads, head_dim] of an fp32 CPU tensor [3 * heads * head_dim,
// ...].
Tensor regroup(const Tensor& t, int64_t heads, int64_t head_dim) {
  const Tensor src = t.contiguous();
  const int64_t row_bytes = static_cast<int64_t>(src.nbytes()) / src.size(0);
  Tensor out = Tensor::empty(src.shape(), DType::kFloat32);
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(out.raw());
  const size_t block = static_cast<size_t>(head_dim * row_bytes);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t p = 0; p < 3; ++p)
      std::memcpy(d + (p * heads + h) * block, s + (h * 3 + p) * block, block);
  return out;
}

}  // namespace

std::vector<WeightEntry> weight_map(const GptBigCodeConfig& c, GptBigCodeWeights& w,
                                    const std::string& hf_prefix) {
  return gpt_weight_map(gpt_shape(c, c.kv_heads(), /*hf_transposed=*/false), w,  // nn.Linear
                        hf_prefix);
}

void regroup_mha_qkv(const GptBigCodeConfig& c, GptBigCodeWeights& w) {
  if (c.multi_query) return;
  for (GptBigCodeLayerWeights& l : w.layers) {
    l.qkv_w = regroup(l.qkv_w, c.n_head, c.head_dim());
    l.qkv_b = regroup(l.qkv_b, c.n_head, c.head_dim());
  }
}

}  // namespace kiln::models::gpt_bigcode
