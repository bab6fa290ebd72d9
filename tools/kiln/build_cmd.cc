// `kiln build`: a kiln checkpoint with seeded random weights from architecture flags, for
// performance work without a real checkpoint (TensorRT-LLM does the same for its perf tests).
#include <cstdio>

#include "commands.h"
#include "core/check.h"
#include "model_source.h"

namespace kiln::cli {

void add_build_command(CLI::App& app) {
  struct Args {
    ModelSource source;
    std::string output_dir, dtype = "float16";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("build", "Write a random-weight kiln checkpoint from flags");
  a->source.add_options(sub, /*allow_dirs=*/false);
  sub->add_option("--output_dir", a->output_dir, "Output checkpoint folder")->required();
  sub->add_option("--dtype", a->dtype, "Stored dtype: float32 | float16 | bfloat16")
      ->capture_default_str();
  sub->callback([a] {
    KILN_CHECK(a->source.from_flags(), "build: --model_type is required");
    const DType dtype = dtype_from_name(a->dtype);
    auto model = a->source.load({});  // on the CPU, fp32
    model->save(a->output_dir, dtype);
    std::printf("kiln: wrote random %s checkpoint (%s) to %s\n",
                std::string(dtype_name(dtype)).c_str(), a->source.describe().c_str(),
                a->output_dir.c_str());
  });
}

}  // namespace kiln::cli
