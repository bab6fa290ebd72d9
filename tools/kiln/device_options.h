// Device flags shared by the subcommands that run models (--device, --dtype, the one GPU memory
// cap); the session they select lives in the library (src/api/device_session.h).
#pragma once

#include <CLI/CLI.hpp>

#include "api/device_session.h"
#include "kiln/engine.h"

namespace kiln::cli {

using DeviceOptions = api::DeviceOptions;
using DeviceSession = api::DeviceSession;

void add_device_options(CLI::App* sub, DeviceOptions& o);
// Copies the device flags into the engine's options (device, dtype, the GPU memory cap).
void apply_device_options(const DeviceOptions& o, EngineOptions& e);
// The scheduler flags (--max_batch_size, --max_num_tokens, --tokens_per_block), bound to e.
void add_scheduler_options(CLI::App* sub, EngineOptions& e);

}  // namespace kiln::cli
