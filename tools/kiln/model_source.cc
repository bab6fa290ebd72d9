#include "model_source.h"

#include "core/check.h"

namespace kiln::cli {

void ModelSource::add_options(CLI::App* sub, bool allow_dirs) {
  if (allow_dirs) {
    sub->add_option("--model_dir", model_dir, "Hugging Face model folder");
    sub->add_option("--engine_dir", engine_dir, "kiln checkpoint folder");
  }
  sub->add_option("--model_type", model_type, "Random weights of this family (gpt2)");
  sub->add_option("--n_layer", n_layer, "Layers (random weights)");
  sub->add_option("--n_embd", n_embd, "Hidden size (random weights)");
  sub->add_option("--n_head", n_head, "Attention heads (random weights)");
  sub->add_option("--n_inner", n_inner, "MLP size (default 4 x n_embd)");
  sub->add_option("--vocab_size", vocab_size, "Vocabulary (random weights)");
  sub->add_option("--n_positions", n_positions, "Positions (random weights)");
  sub->add_option("--activation_function", activation_function, "Activation (random weights)");
  sub->add_option("--seed", seed, "Seed of the random weights");
}

nlohmann::json ModelSource::architecture() const {
  nlohmann::json j = {{"model_type", model_type}, {"activation_function", activation_function}};
  const auto put = [&](const char* k, const std::optional<int64_t>& v) {
    if (v) j[k] = *v;
  };
  put("n_layer", n_layer);
  put("n_embd", n_embd);
  put("n_head", n_head);
  put("n_inner", n_inner);
  put("vocab_size", vocab_size);
  put("n_positions", n_positions);
  return j;
}

std::unique_ptr<models::Model> ModelSource::load(const models::LoadOptions& options) const {
  const int sources = !model_dir.empty() + !engine_dir.empty() + from_flags();
  KILN_CHECK(sources == 1, "give exactly one of --model_dir, --engine_dir and --model_type");
  if (from_flags()) return models::random_model(architecture(), seed, options);
  return models::load_model(model_dir.empty() ? engine_dir : model_dir, options);
}

std::string ModelSource::describe() const {
  if (!from_flags()) return model_dir.empty() ? engine_dir : model_dir;
  return architecture().dump();
}

}  // namespace kiln::cli
