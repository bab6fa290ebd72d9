// `kiln convert`: HF folder -> kiln checkpoint (config.json + model.safetensors in kiln's layout
// and dtype, plus the tokenizer and generation-config files), loadable with --engine_dir.
#include <cstdio>

#include "commands.h"
#include "core/check.h"
#include "io/json_config.h"
#include "models/registry.h"
#include "models/weight_map.h"

namespace kiln::cli {
namespace {

DType resolve_dtype(const std::string& flag, const std::string& model_dir) {
  if (flag != "auto") return dtype_from_name(flag);
  const io::JsonConfig cfg = io::JsonConfig::load(model_dir + "/config.json");
  for (const char* key : {"torch_dtype", "dtype"})
    if (cfg.has(key)) return dtype_from_name(cfg.get<std::string>(key));
  return DType::kFloat32;
}

}  // namespace

void add_convert_command(CLI::App& app) {
  struct Args {
    std::string model_dir, output_dir, dtype = "auto";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("convert", "Convert a Hugging Face folder to a kiln checkpoint");
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder")->required();
  sub->add_option("--output_dir", a->output_dir, "Output checkpoint folder")->required();
  sub->add_option("--dtype", a->dtype, "float32 | float16 | bfloat16 | auto (config's torch_dtype)");
  sub->callback([a] {
    const DType dtype = resolve_dtype(a->dtype, a->model_dir);
    auto model = models::load_model(a->model_dir);
    model->save(a->output_dir, dtype);
    models::copy_side_files(a->model_dir, a->output_dir);
    std::printf("kiln: wrote %s checkpoint to %s\n", std::string(dtype_name(dtype)).c_str(),
                a->output_dir.c_str());
  });
}

}  // namespace kiln::cli
