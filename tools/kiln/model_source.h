// Where a subcommand's model comes from: a HF folder, a kiln checkpoint, or architecture flags
// with seeded random weights (as TensorRT-LLM builds engines for performance tests).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/registry.h"

namespace kiln::cli {

struct ModelSource {
  std::string model_dir, engine_dir, model_type;
  std::optional<int64_t> n_layer, n_embd, n_head, n_inner, vocab_size, n_positions;
  std::string activation_function = "gelu_new";
  std::vector<std::string> config;  // --config KEY=VALUE: any HF config field (JSON value or string)
  uint64_t seed = 0;

  void add_options(CLI::App* sub, bool allow_dirs);
  bool from_flags() const { return !model_type.empty(); }
  nlohmann::json architecture() const;  // HF-style config from the flags and --config
  std::unique_ptr<models::Model> load(const models::LoadOptions& options) const;
  std::string describe() const;

 private:
  nlohmann::json flag_architecture() const;
};

}  // namespace kiln::cli
