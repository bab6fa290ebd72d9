#include "models/gpt2/model.h"

namespace kiln::models {
template class GptModel<gpt2::Gpt2Config>;
}  // namespace kiln::models

namespace kiln::models::gpt2 {

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  return load_gpt_model<Gpt2Config>(dir, cfg, options);
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  return random_gpt_model<Gpt2Config>(arch, seed, options);
}

}  // namespace kiln::models::gpt2
