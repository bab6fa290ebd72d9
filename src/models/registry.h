// Model registry: picks the family from config.json (`model_type`; a kiln checkpoint carries its
// own) and loads it. One entry per family; unknown types are a clear error listing the known ones.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/allocator.h"
#include "models/model.h"

namespace kiln::models {

// LayerNorm folding into the next linear (models/common/ln_fold.h): kAuto folds on 16-bit CUDA
// unless KILN_LN_FOLD=0; kOn folds on any device and dtype (tests); kOff never.
enum class LnFold { kAuto, kOn, kOff };

struct LoadOptions {
  Device device = Device::cpu();
  // Weight and activation dtype on the GPU (float16, bfloat16 or float32); the CPU computes in
  // float32 whatever the checkpoint stores.
  DType dtype = DType::kFloat16;
  Allocator* allocator = cpu_allocator();   // where weights, workspace and logits live
  LnFold fold_layer_norms = LnFold::kAuto;  // the families that support it (GPT-2)
};

// dir: a Hugging Face model folder or a kiln checkpoint written by Model::save.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options = {});

// A model with seeded random weights from an architecture given as HF config fields
// ({"model_type": "gpt2", "n_layer": 48, ...}), for performance work without a checkpoint.
std::unique_ptr<Model> random_model(const nlohmann::json& arch, uint64_t seed,
                                    const LoadOptions& options = {});

// Reads `model_type` from dir/config.json (HF or kiln), with a clear error when absent.
std::string read_model_type(const std::string& dir);

}  // namespace kiln::models
