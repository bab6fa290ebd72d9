#include "models/weight_map.h"

#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "io/safetensors.h"

namespace kiln::models {
namespace {

Tensor transpose_2d(const Tensor& t) {  // [a, b] fp32 -> [b, a]
  const int64_t a = t.size(0), b = t.size(1);
  Tensor out = Tensor::empty({b, a}, DType::kFloat32);
  const float* s = t.data<float>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) d[j * a + i] = s[i * b + j];
  return out;
}

}  // namespace

void load_weights(const io::Checkpoint& ckpt, const std::vector<WeightEntry>& entries,
                  bool kiln_format) {
  for (const WeightEntry& e : entries) {
    const std::string& name = kiln_format ? e.kiln_name : e.hf_name;
    Tensor src = ckpt.get(name);
    KILN_CHECK(is_floating(src.dtype()), "weight '{}' has dtype {}, expected a floating type", name,
               dtype_name(src.dtype()));
    Shape expect = e.shape;
    const bool transpose = !kiln_format && e.hf_transposed;
    if (transpose) std::swap(expect[0], expect[1]);
    KILN_CHECK(src.shape() == expect, "weight '{}' has shape {}, the config implies {}", name,
               src.shape_str(), shape_to_string(expect));
    Tensor f = src.to(DType::kFloat32);
    *e.tensor = transpose ? transpose_2d(f) : f;
  }
}

void save_checkpoint(const std::string& dir, const nlohmann::json& config_json,
                     const std::vector<WeightEntry>& entries, DType dtype) {
  KILN_CHECK(is_floating(dtype) && dtype != DType::kFloat8E4M3 && dtype != DType::kFloat8E5M2,
             "convert: --dtype must be float32, float16 or bfloat16, got {}", dtype_name(dtype));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  KILN_CHECK(!ec, "cannot create output directory '{}': {}", dir, ec.message());
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const WeightEntry& e : entries) tensors.emplace_back(e.kiln_name, e.tensor->to(dtype));
  io::write_safetensors(dir + "/model.safetensors", tensors, {{"format", "kiln"}});
  std::ofstream f(dir + "/config.json");
  f << config_json.dump(2) << "\n";
  KILN_CHECK(f.good(), "cannot write '{}/config.json'", dir);
}

void save_kiln_checkpoint(const std::string& dir, const ModelSpec& spec, nlohmann::json config_json,
                          const std::vector<WeightEntry>& entries, DType dtype) {
  KILN_CHECK(spec.device.is_cpu(), "{}: save() needs the model loaded on the CPU", spec.model_type);
  config_json["kiln_checkpoint"] = {{"version", 1}, {"dtype", std::string(dtype_name(dtype))}};
  save_checkpoint(dir, config_json, entries, dtype);
}

std::optional<std::string> find_hf_prefix(const io::Checkpoint& ckpt, const std::string& probe,
                                          std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (ckpt.has(p + probe)) return std::string(p);
  return std::nullopt;
}

void copy_side_files(const std::string& src, const std::string& dst) {
  namespace fs = std::filesystem;
  static const char* kFiles[] = {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                 "special_tokens_map.json", "vocab.json", "merges.txt",
                                 "encoder.json", "vocab.bpe", "added_tokens.json"};
  for (const char* name : kFiles) {
    const fs::path from = fs::path(src) / name;
    if (!fs::exists(from)) continue;
    std::error_code ec;
    fs::copy_file(from, fs::path(dst) / name, fs::copy_options::overwrite_existing, ec);
    KILN_CHECK(!ec, "cannot copy '{}' to '{}': {}", from.string(), dst, ec.message());
  }
}

}  // namespace kiln::models
