// The `kiln` CLI: one file per subcommand, each registering itself on the app. Callbacks throw
// kiln::Error on bad input; main() prints it and exits non-zero.
#pragma once

#include <CLI/CLI.hpp>

namespace kiln::cli {

void add_run_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_build_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_loadtest_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace kiln::cli
