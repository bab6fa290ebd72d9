// Weight maps: each family lists its weights once (kiln name, HF name, destination, shape, layout);
// loading from a HF folder or a kiln checkpoint and saving a kiln checkpoint all walk that list.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "models/model.h"

namespace kiln::models {

struct WeightEntry {
  std::string kiln_name;  // name in a kiln checkpoint
  std::string hf_name;    // full name in a HF checkpoint (after prefix resolution)
  Tensor* tensor;         // destination
  Shape shape;            // kiln layout ([out, in])
  bool hf_transposed;     // HF stores [in, out] (GPT-2's Conv1D)
};

// Loads every entry as a contiguous fp32 CPU tensor (16-bit and fp8 storage is widened), checking
// dtype and shape; kiln_format picks the names and skips the transpose.
void load_weights(const io::Checkpoint& ckpt, const std::vector<WeightEntry>& entries,
                  bool kiln_format);

// Writes config_json + model.safetensors (weights converted to dtype) into dir, creating it.
void save_checkpoint(const std::string& dir, const nlohmann::json& config_json,
                     const std::vector<WeightEntry>& entries, DType dtype);

// Model::save of a family: config_json (HF field names) gains "kiln_checkpoint": {version 1, dtype}
// and is written with the entries. The model must be on the CPU, whose copy holds fp32 weights.
void save_kiln_checkpoint(const std::string& dir, const ModelSpec& spec, nlohmann::json config_json,
                          const std::vector<WeightEntry>& entries, DType dtype);

// The prefix a HF wrapper class put before the base model's names ("transformer." for
// GPT2LMHeadModel): the first of `prefixes` under which `probe` is stored, if any.
std::optional<std::string> find_hf_prefix(const io::Checkpoint& ckpt, const std::string& probe,
                                          std::initializer_list<const char*> prefixes);

// Copies the tokenizer and generation-config files a HF folder carries (if any) from src to dst.
void copy_side_files(const std::string& src, const std::string& dst);

}  // namespace kiln::models
