#include "models/registry.h"

#include <filesystem>
#include <functional>
#include <map>

#include "core/check.h"
#include "io/json_config.h"
#include "models/bart/model.h"
#include "models/gpt2/model.h"
#include "models/gpt_next/model.h"
#include "models/llama/model.h"
#include "models/gpt_bigcode/model.h"
#include "models/opt/model.h"
#include "models/t5/model.h"

namespace kiln::models {
namespace {

using Loader = std::function<std::unique_ptr<Model>(const std::string&, const io::JsonConfig&,
                                                    const LoadOptions&)>;

const std::map<std::string, Loader>& loaders() {
  static const std::map<std::string, Loader> m = {
      {"bart", bart::load},
      {"mbart", bart::load},
      {"marian", bart::load},
      {"fairseq", bart::load},  // kiln checkpoints from tools/convert_fairseq.py
      {"gpt2", gpt2::load},
      {"llama", llama::load},
      {"gpt_bigcode", gpt_bigcode::load},
      {"gpt_next", gpt_next::load},
      {"opt", opt::load},
      {"t5", t5::load},
      {"mt5", t5::load},
      {"umt5", t5::load},
  };
  return m;
}

}  // namespace

std::string read_model_type(const std::string& dir) {
  KILN_CHECK(std::filesystem::is_directory(dir), "model directory '{}' does not exist", dir);
  const io::JsonConfig cfg = io::JsonConfig::load(dir + "/config.json");
  KILN_CHECK(cfg.has("model_type"), "{}: no 'model_type' field", cfg.source());
  return cfg.get<std::string>("model_type");
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
  const std::string type = read_model_type(dir);
  const auto& m = loaders();
  auto it = m.find(type);
  if (it == m.end()) {
    std::string known;
    for (const auto& [k, v] : m) known += (known.empty() ? "" : ", ") + k;
    KILN_FAIL("{}/config.json: unsupported model_type '{}' (supported: {})", dir, type, known);
  }
  return it->second(dir, io::JsonConfig::load(dir + "/config.json"), options);
}

std::unique_ptr<Model> random_model(const nlohmann::json& arch, uint64_t seed,
                                    const LoadOptions& options) {
  const io::JsonConfig cfg = io::JsonConfig::from_json(arch, "architecture flags");
  const std::string type = cfg.get_or<std::string>("model_type", "");
  if (type == "gpt2") return gpt2::random_model(cfg, seed, options);
  if (type == "gpt_bigcode") return gpt_bigcode::random_model(cfg, seed, options);
  if (type == "opt") return opt::random_model(cfg, seed, options);
  if (type == "llama") return llama::random_model(cfg, seed, options);
  if (type == "gpt_next") return gpt_next::random_model(cfg, seed, options);
  if (type == "bart" || type == "mbart" || type == "marian" || type == "fairseq")
    return bart::random_model(cfg, seed, options);
  if (type == "t5" || type == "mt5" || type == "umt5") return t5::random_model(cfg, seed, options);
  KILN_FAIL(
      "random weights: unsupported --model_type '{}' (supported: gpt2, gpt_bigcode, opt, llama, "
      "gpt_next, bart, mbart, marian, fairseq, t5, mt5, umt5)",
      type);
}

}  // namespace kiln::models
