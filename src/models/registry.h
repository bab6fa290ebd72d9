// Model registry: picks the family from config.json (`model_type`; a kiln checkpoint carries its
// own) and loads it. One entry per family; unknown types are a clear error listing the known ones.
#pragma once

#include <memory>
#include <string>

#include "models/model.h"

namespace kiln::models {

struct LoadOptions {
  Device device = Device::cpu();
};

// dir: a Hugging Face model folder or a kiln checkpoint written by Model::save.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options = {});

// Reads `model_type` from dir/config.json (HF or kiln), with a clear error when absent.
std::string read_model_type(const std::string& dir);

}  // namespace kiln::models
