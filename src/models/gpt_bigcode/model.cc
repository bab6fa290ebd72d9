#include "models/gpt_bigcode/model.h"

namespace kiln::models {
template class GptModel<gpt_bigcode::GptBigCodeConfig>;
}  // namespace kiln::models

namespace kiln::models::gpt_bigcode {

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  return load_gpt_model<GptBigCodeConfig>(dir, cfg, options, regroup_mha_qkv);
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  return random_gpt_model<GptBigCodeConfig>(arch, seed, options);
}

}  // namespace kiln::models::gpt_bigcode
