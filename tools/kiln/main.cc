#include <cstdio>
#include <exception>

#include "blas_tune.h"
#include "commands.h"
#include "core/check.h"

int main(int argc, char** argv) {
  kiln::cli::maybe_reexec_for_blas(argv);
  CLI::App app{"kiln: a transformer inference engine (CPU and CUDA)", "kiln"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  kiln::cli::add_run_command(app);
  kiln::cli::add_tokenize_command(app);
  kiln::cli::add_convert_command(app);
  kiln::cli::add_build_command(app);
  kiln::cli::add_bench_command(app);
  kiln::cli::add_serve_command(app);
  kiln::cli::add_loadtest_command(app);
  kiln::cli::add_eval_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kiln: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
